import { createHash } from 'node:crypto';
import type { PredictionRecord } from '@imagerec/shared';

const STYLE = `
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{padding:.4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
ol{margin:0;padding-left:1.2rem}.score{color:#666}.error{color:#b00}img{border-radius:4px}
`;

/** The page's one inline style block, allowed by its hash in the content security policy. */
export const HISTORY_STYLE_HASH = `sha256-${createHash('sha256').update(STYLE).digest('base64')}`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const row = (r: PredictionRecord) => {
  const labels = (r.predictions ?? [])
    .slice(0, 3)
    .map(
      (p) =>
        `<li>${escapeHtml(p.label)} <span class="score">${(p.score * 100).toFixed(1)}%</span></li>`,
    )
    .join('');
  const outcome = r.error
    ? `<span class="error">${escapeHtml(r.error)}</span>`
    : `<ol>${labels}</ol>`;
  const latency = r.timings
    ? `${Math.round(r.timings.totalMs)} ms${r.cached ? ' (cached)' : ''}`
    : '';
  // Inline: the page's one query already brought the thumbnails, so no request per image.
  const thumb = r.thumbnail
    ? `<img src="data:image/webp;base64,${r.thumbnail.toString('base64')}" alt="" width="64">`
    : '';
  return `<tr><td>${thumb}</td><td>${escapeHtml(r.filename)}<br><small>${r.width}x${r.height} ${r.format}</small></td><td>${outcome}</td><td><time datetime="${r.createdAt.toISOString()}">${r.createdAt.toISOString().slice(0, 19).replace('T', ' ')}</time></td><td>${latency}</td></tr>`;
};

/** The history page: newest first, a page at a time, with an upload form. Plain HTML, no scripts. */
export function renderHistoryPage(
  records: PredictionRecord[],
  nextBefore: string | null,
  limit: number,
) {
  const rows = records.length
    ? records.map(row).join('\n')
    : '<tr><td colspan="5">No predictions yet: upload an image above.</td></tr>';
  const older = nextBefore
    ? `<a href="/?limit=${limit}&amp;before=${encodeURIComponent(nextBefore)}">Older &rarr;</a>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Image recognition: history</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Image recognition</h1>
<form method="post" action="/predict" enctype="multipart/form-data">
<input type="file" name="image" accept="image/*" required> <button type="submit">Classify</button>
<a href="/docs">API docs</a>
</form>
<h2>Latest predictions</h2>
<table>
<thead><tr><th></th><th>File</th><th>Top labels</th><th>Time (UTC)</th><th>Latency</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p>${older}</p>
</body>
</html>
`;
}
