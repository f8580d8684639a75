// The history page's one script: jobs shown as pending are long-polled on the JSON API
// and filled in when they finish, without reloading the page.

const LONG_POLL_MS = 20000;
const RETRY_MS = 3000;
const FINISHED = new Set(['completed', 'failed']);

const percent = (score) => `${(score * 100).toFixed(1)}%`;

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// The same markup the server renders for a finished row (views/history.page.ts).
function outcomeOf(view) {
  if (view.status === 'failed') return [element('p', 'error', view.error || 'failed')];
  const [top, ...rest] = view.predictions || [];
  if (!top) return [];
  const line = element('p', 'top');
  const meter = element('meter', '', percent(top.score));
  meter.min = 0;
  meter.max = 1;
  meter.value = top.score;
  const bar = element('span', 'bar');
  bar.append(meter, element('span', 'score', percent(top.score)));
  line.append(element('span', 'label', top.label), bar);
  const others = rest
    .slice(0, 2)
    .map((p) => `${p.label} ${percent(p.score)}`)
    .join(', ');
  return others ? [line, element('p', 'others', others)] : [line];
}

function fill(item, view) {
  item.dataset.status = view.status;
  item.querySelector('.outcome').replaceChildren(...outcomeOf(view));
  const latency = `${Math.round(view.timings.totalMs)} ms${view.cached ? ' (cached)' : ''}`;
  item.querySelector('.latency').textContent = latency;
}

async function follow(item) {
  const id = item.dataset.jobId;
  for (;;) {
    try {
      const res = await fetch(`/v1/jobs/${encodeURIComponent(id)}?topK=3&waitMs=${LONG_POLL_MS}`, {
        headers: { accept: 'application/json' },
      });
      if (res.status === 404) return;
      if (res.ok) {
        const view = await res.json();
        if (FINISHED.has(view.status)) return fill(item, view);
        const note = item.querySelector('.pending');
        if (note && view.status === 'active') note.textContent = 'Running…';
        continue;
      }
    } catch {
      // The API restarting or the network gone: try again shortly.
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

for (const item of document.querySelectorAll('.item[data-status="queued"]')) follow(item);
