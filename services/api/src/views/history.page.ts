import { createHash } from 'node:crypto';
import { type PredictionRecord, thumbnailMediaType } from '@imagerec/shared';
import type { PendingJob } from '../jobs/job.service.js';

export const HISTORY_SCRIPT_PATH = '/assets/history.js';
export const SIGN_IN_PATH = '/signin';
export const SIGN_OUT_PATH = '/signout';

/** The page after a form upload: its jobs named in the query, so it can show them as pending. */
export const historyUrl = (pendingIds: string[]) =>
  pendingIds.length ? `/?pending=${pendingIds.join(',')}` : '/';

/** The content type of every page. */
export const HTML_CONTENT_TYPE = 'text/html; charset=utf-8';

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const percent = (score: number) => `${(score * 100).toFixed(1)}%`;

/** The side of a row's thumbnail on the page, CSS pixels. */
const THUMB_PX = 64;
/** The predictions a row shows: the top one, then the runners-up. */
const SHOWN_PREDICTIONS = 3;

const thumbnail = (base64: string | undefined) =>
  base64
    ? // Inline: the page's one query already brought the thumbnails, so no request per image.
      `<img class="thumb" src="data:${thumbnailMediaType(Buffer.from(base64.slice(0, 16), 'base64'))};base64,${base64}" alt="" width="${THUMB_PX}" height="${THUMB_PX}">`
    : '<span class="thumb"></span>';

const timeOf = (date: Date) =>
  `<time datetime="${date.toISOString()}">${date.toISOString().slice(0, 19).replace('T', ' ')}</time>`;

/**
 * A finished row's outcome, written once: the server fills it in for the rows it renders, and
 * for rows still pending it sends the same markup empty, in <template>s the page's script clones
 * when their jobs finish (OUTCOME_TEMPLATES). Every argument is HTML, escaped by the caller.
 */
const failure = (error: string) => `<p class="error">${error}</p>`;
const topPrediction = (label: string, value: string, score: string, others?: string) =>
  `<p class="top"><span class="label">${label}</span><span class="bar"><meter min="0" max="1" value="${value}">${score}</meter><span class="score">${score}</span></span></p>${others === undefined ? '' : `<p class="others">${others}</p>`}`;

/** The top label with its score as a bar, then the runners-up. */
const outcome = (r: PredictionRecord) => {
  if (r.error) return failure(escapeHtml(r.error));
  const [top, ...rest] = r.predictions ?? [];
  if (!top) return '';
  const others = rest
    .slice(0, SHOWN_PREDICTIONS - 1)
    .map((p) => `${escapeHtml(p.label)} ${percent(p.score)}`)
    .join(', ');
  return topPrediction(
    escapeHtml(top.label),
    top.score.toFixed(4),
    percent(top.score),
    others || undefined,
  );
};

/**
 * The outcomes of the rows still pending, for the script to clone (its ids name them there),
 * with how many predictions a row shows.
 */
const OUTCOME_TEMPLATES = `<template id="outcome-failed">${failure('')}</template>
<template id="outcome-completed" data-predictions="${SHOWN_PREDICTIONS}">${topPrediction('', '0', '', '')}</template>`;

const item = (fields: {
  jobId: string;
  status: string;
  thumbnail?: string;
  filename: string;
  details: string;
  outcome: string;
  createdAt: Date;
  latency: string;
}) =>
  `<li class="item" data-job-id="${escapeHtml(fields.jobId)}" data-status="${fields.status}">${thumbnail(fields.thumbnail)}<div class="body"><p class="file"><span class="name">${escapeHtml(fields.filename)}</span> <small>${fields.details}</small></p><div class="outcome">${fields.outcome}</div><p class="meta">${timeOf(fields.createdAt)} <span class="latency">${fields.latency}</span></p></div></li>`;

const recordItem = (r: PredictionRecord) =>
  item({
    jobId: r.jobId,
    status: r.status,
    thumbnail: r.thumbnail?.toString('base64'),
    filename: r.filename,
    details: `${r.width}&times;${r.height} ${escapeHtml(r.format)}`,
    outcome: outcome(r),
    createdAt: r.createdAt,
    latency: r.timings ? `${Math.round(r.timings.totalMs)} ms${r.cached ? ' (cached)' : ''}` : '',
  });

const pendingItem = (p: PendingJob) =>
  item({
    jobId: p.jobId,
    status: 'queued',
    thumbnail: p.thumbnail,
    filename: p.filename,
    details: `${p.width}&times;${p.height} ${escapeHtml(p.format)}`,
    outcome: '<p class="pending">Pending&hellip;</p>',
    createdAt: p.createdAt,
    latency: '',
  });

const STYLE = `
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem;max-width:60rem;color:#222;line-height:1.4}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.2rem 0 .4rem}
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;padding:.75rem;border:1px solid #ddd;border-radius:6px}
input[type=file]{max-width:100%;min-width:0;flex:1 1 14rem}
button{padding:.45rem 1.1rem;font:inherit;cursor:pointer}
.history{list-style:none;margin:0;padding:0}
.item{display:flex;gap:.75rem;padding:.6rem 0;border-bottom:1px solid #e4e4e4;align-items:flex-start}
.thumb{flex:0 0 ${THUMB_PX}px;width:${THUMB_PX}px;height:${THUMB_PX}px;object-fit:cover;border-radius:4px;background:#eee}
.body{flex:1 1 auto;min-width:0}
.body p{margin:.1rem 0}
.name{font-weight:600;overflow-wrap:anywhere}
small,.meta,.others,.score{color:#666}
.meta{font-size:.85rem}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem .6rem}
.label{overflow-wrap:anywhere}
.bar{display:flex;align-items:center;gap:.5rem;flex:1 1 10rem;max-width:20rem}
meter{flex:1 1 auto;min-width:3rem;height:.9rem}
.others{font-size:.9rem;overflow-wrap:anywhere}
.pending{color:#8a6d00}.error{color:#b00;overflow-wrap:anywhere}
nav{margin:1rem 0;display:flex;gap:1rem;align-items:center}
header nav{margin:0}
.sign-out{padding:0;border:0}
.sign-in{flex-direction:column;align-items:stretch;max-width:26rem}
`;

/** The pages' one inline style block, allowed by its hash in the content security policy. */
export const HISTORY_STYLE_HASH = `sha256-${createHash('sha256').update(STYLE).digest('base64')}`;

/** The start of each page (the history and its sign-in form), through the opening body tag. */
export const documentStart = (title: string, head = '') => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Image recognition: ${title}</title>
<style>${STYLE}</style>
${head}
</head>
<body>`;

/** The hidden field that carries a form's CSRF token (checked by @fastify/csrf-protection). */
export const csrfField = (token: string) =>
  `<input type="hidden" name="_csrf" value="${escapeHtml(token)}">`;

/**
 * The history page: an upload form (several files at once), then the newest predictions
 * first, a page at a time. Jobs just uploaded show as pending; the script at
 * HISTORY_SCRIPT_PATH fills them in when they finish. No inline script, for a strict CSP.
 */
export function renderHistoryPage(
  records: PredictionRecord[],
  next: string | null,
  limit: number,
  pending: PendingJob[] = [],
  session?: { csrfToken: string },
) {
  const items = [...pending.map(pendingItem), ...records.map(recordItem)];
  const list = items.length
    ? items.join('\n')
    : '<li class="item">No predictions yet: upload an image above.</li>';
  const older = next
    ? `<a href="/?limit=${limit}&amp;before=${encodeURIComponent(next)}" rel="next">Older &rarr;</a>`
    : '';
  // Signed in with a key: the forms carry the CSRF token, and the header a way out.
  const token = session ? csrfField(session.csrfToken) : '';
  const signOut = session
    ? `<form class="sign-out" method="post" action="${SIGN_OUT_PATH}">${token}<button type="submit">Sign out</button></form>`
    : '';
  return `${documentStart('history', `<script src="${HISTORY_SCRIPT_PATH}" defer></script>`)}
<header><h1>Image recognition</h1><nav><a href="/docs">API docs</a>${signOut}</nav></header>
<form method="post" action="/predict" enctype="multipart/form-data">
${token}<label for="image">Images</label>
<input id="image" type="file" name="image" accept="image/*" multiple required>
<button type="submit">Classify</button>
</form>
<h2>Latest predictions</h2>
<ul class="history">
${list}
</ul>
<nav>${older}</nav>${pending.length ? `\n${OUTCOME_TEMPLATES}` : ''}
</body>
</html>
`;
}
