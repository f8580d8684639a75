// The history page's one script: jobs shown as pending are long-polled on the JSON API
// and filled in when they finish, without reloading the page, from the markup the server
// sends in the page's <template id="outcome-..."> elements (views/history.page.ts).

const LONG_POLL_MS = 20000;
const RETRY_MS = 3000;
const FINISHED = new Set(['completed', 'failed']);

const percent = (score) => `${(score * 100).toFixed(1)}%`;

const template = (status) => document.getElementById(`outcome-${status}`);
const clone = (status) => template(status).content.cloneNode(true);
// How many predictions a row shows: the server's number, on its template.
const shown = () => Number(template('completed').dataset.predictions);

function outcomeOf(view) {
  if (view.status === 'failed') {
    const failed = clone('failed');
    failed.querySelector('.error').textContent = view.error;
    return failed;
  }
  const [top, ...rest] = view.predictions || [];
  if (!top) return '';
  const outcome = clone('completed');
  outcome.querySelector('.label').textContent = top.label;
  const meter = outcome.querySelector('meter');
  meter.value = top.score;
  meter.textContent = percent(top.score);
  outcome.querySelector('.score').textContent = percent(top.score);
  const others = rest
    .slice(0, shown() - 1)
    .map((p) => `${p.label} ${percent(p.score)}`)
    .join(', ');
  if (others) outcome.querySelector('.others').textContent = others;
  else outcome.querySelector('.others').remove();
  return outcome;
}

function fill(item, view) {
  item.dataset.status = view.status;
  item.querySelector('.outcome').replaceChildren(outcomeOf(view));
  const latency = `${Math.round(view.timings.totalMs)} ms${view.cached ? ' (cached)' : ''}`;
  item.querySelector('.latency').textContent = latency;
}

async function follow(item) {
  const id = item.dataset.jobId;
  for (;;) {
    try {
      const res = await fetch(
        `/v1/jobs/${encodeURIComponent(id)}?topK=${shown()}&waitMs=${LONG_POLL_MS}`,
        {
          headers: { accept: 'application/json' },
        },
      );
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
