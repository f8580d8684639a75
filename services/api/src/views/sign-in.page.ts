import { csrfField, documentStart, escapeHtml, SIGN_IN_PATH } from './history.page.js';

/** The sign-in form: an API key, kept by the browser as a session cookie (never in the page). */
export function renderSignInPage(csrfToken: string, error?: string) {
  const notice = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return `${documentStart('sign in')}
<header><h1>Image recognition</h1></header>
<h2>Sign in</h2>
${notice}
<form class="sign-in" method="post" action="${SIGN_IN_PATH}">
${csrfField(csrfToken)}
<label for="key">API key</label>
<input id="key" type="password" name="key" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}
