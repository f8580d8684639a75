import { escapeHtml } from './history.page.js';

/** The error answer of a page meant for browsers (the history page): plain HTML, no styles, no scripts. */
export function renderErrorPage(status: number, code: string, message: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${status} ${escapeHtml(code)}</title></head>
<body>
<h1>${status}</h1>
<p>${escapeHtml(message)} (${escapeHtml(code)})</p>
<p><a href="/">Back to the history</a></p>
</body>
</html>
`;
}
