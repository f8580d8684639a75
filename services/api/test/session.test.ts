import { join } from 'node:path';
import { filePart } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useApi } from './support/api-harness.js';

const KEY = 'browser-secret-0123456789';
const SECRET = 'session-secret-0123456789abcdef0123456789';
const TTL_S = 600;

type Cookie = LightMyRequestResponse['cookies'][number];
const cookieNamed = (res: LightMyRequestResponse, name: string) =>
  res.cookies.find((c) => c.name === name) as Cookie | undefined;
/** What a browser sends back after these responses, as a Cookie header: the latest of each, none cleared. */
const cookieHeader = (...responses: LightMyRequestResponse[]) => {
  const jar = new Map(responses.flatMap((r) => r.cookies).map((c) => [c.name, c.value]));
  return [...jar]
    .filter(([, value]) => value !== '')
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
};
const csrfToken = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const form = (fields: Record<string, string>) => ({
  payload: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});

describe('API component: the history page signed in with a key (session cookie, CSRF)', () => {
  const api = useApi({
    API_KEYS: `browser:${KEY}`,
    SESSION_SECRET: SECRET,
    SESSION_TTL_S: String(TTL_S),
    RATE_LIMIT_MAX: '0',
    TRUST_PROXY: '127.0.0.1',
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** GET /signin, then POST it with its token: the responses a browser keeps cookies from. */
  const signIn = async (key = KEY, headers: Record<string, string> = {}) => {
    const page = await api.app.inject({ url: '/signin', headers });
    const body = form({ key, _csrf: csrfToken(page.body) });
    const res = await api.app.inject({
      method: 'POST',
      url: '/signin',
      payload: body.payload,
      headers: { ...body.headers, ...headers, cookie: cookieHeader(page) },
    });
    return { page, res, cookie: cookieHeader(page, res) };
  };

  it('sends a browser without a key from the page to the sign-in form', async () => {
    const res = await api.app.inject({ url: '/' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/signin');
    const page = await api.app.inject({ url: '/signin' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<form class="sign-in" method="post" action="/signin">');
    expect(page.body).toContain('type="password" name="key"');
    expect(csrfToken(page.body)).not.toBe('');
  });

  it('sets a signed, HttpOnly, SameSite=Strict session cookie that lasts SESSION_TTL_S', async () => {
    const { res } = await signIn();
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/');
    const session = cookieNamed(res, 'imagerec_session');
    expect(session).toMatchObject({ path: '/', httpOnly: true, sameSite: 'Strict', maxAge: TTL_S });
    // Plain HTTP: a Secure cookie would never come back.
    expect(session?.secure).toBeUndefined();
    // Signed: the value carries an HMAC after the key id and expiry, never the key itself.
    expect(session?.value).toMatch(/^\d+\.browser\.[A-Za-z0-9+/_-]+/);
    expect(res.headers['set-cookie']).not.toContain(KEY);
    const csrf = cookieNamed(
      (await api.app.inject({ url: '/signin' })) as LightMyRequestResponse,
      'imagerec_csrf',
    );
    expect(csrf).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('marks the cookies Secure when TLS ended at the trusted proxy, not on a forged header', async () => {
    const behindTls = await signIn(KEY, { 'x-forwarded-proto': 'https' });
    expect(cookieNamed(behindTls.res, 'imagerec_session')?.secure).toBe(true);
    expect(cookieNamed(behindTls.page, 'imagerec_csrf')?.secure).toBe(true);

    // No trusted proxy: X-Forwarded-Proto is anyone's to send, and says nothing.
    const direct = await api.replica((c) => ({ ...c, api: { ...c.api, trustProxy: [] } }));
    const page = await direct.inject({
      url: '/signin',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(cookieNamed(page, 'imagerec_csrf')?.secure).toBeUndefined();
  });

  it('shows the page, its script and its long-polls to a session, and nothing else', async () => {
    const { cookie } = await signIn();
    const as = (method: 'GET' | 'POST', url: string) =>
      api.app.inject({ method, url, headers: { cookie } });
    const page = await as('GET', '/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('action="/signout"');
    expect(csrfToken(page.body)).not.toBe('');
    expect((await as('GET', '/assets/history.js')).statusCode).toBe(200);
    // The API docs the page links: read-only.
    expect((await as('GET', '/docs/json')).statusCode).toBe(200);
    // Past the key check: the job is simply unknown.
    expect((await as('GET', '/v1/jobs/no-such-job?waitMs=0')).json()).toMatchObject({
      error: { code: 'JOB_NOT_FOUND' },
    });
    // The JSON API keeps needing a bearer key.
    for (const [method, url] of [
      ['GET', '/v1/predictions'],
      ['POST', '/v1/jobs'],
      ['POST', '/v1/predict'],
      ['GET', '/v1/jobs/some-id/thumbnail'],
    ] as const) {
      expect((await as(method, url)).statusCode, `${method} ${url}`).toBe(401);
    }
  });

  it('refuses the upload form without its CSRF token (403, nothing queued), takes it with', async () => {
    const signedIn = await signIn();
    const page = await api.app.inject({ url: '/', headers: { cookie: signedIn.cookie } });
    const token = csrfToken(page.body);
    const cat = filePart(join(IMAGES_DIR, 'cat.png'));
    const headers = { accept: 'text/html', cookie: cookieHeader(signedIn.res, page) };
    // None, a forged one, and the sign-in form's (its CSRF secret went with the sign-in).
    const stale = csrfToken(signedIn.page.body);
    const attempts: Record<string, string>[] = [{}, { _csrf: 'forged-token' }, { _csrf: stale }];
    for (const fields of attempts) {
      const refused = await api.post('/predict', [cat], headers, fields);
      expect(refused.statusCode).toBe(403);
      expect(refused.json()).toMatchObject({ error: { code: 'CSRF_REJECTED' } });
    }
    expect(await api.queue.count()).toBe(0);
    const accepted = await api.post('/predict', [cat], headers, { _csrf: token });
    expect(accepted.statusCode).toBe(303);
    expect(accepted.headers.location).toMatch(/^\/\?pending=/);
    expect(await api.queue.count()).toBe(1);
    // A bearer key needs no token: no browser sends one by itself.
    const withKey = await api.post('/v1/predict?timeoutMs=1', [cat], {
      authorization: `Bearer ${KEY}`,
    });
    expect(withKey.statusCode).not.toBe(403);
  });

  it('refuses a sign-in without its CSRF token, and a wrong key with the form again', async () => {
    const noToken = form({ key: KEY });
    const forged = await api.app.inject({ method: 'POST', url: '/signin', ...noToken });
    expect(forged.statusCode).toBe(403);
    expect(forged.body).toContain('CSRF_REJECTED');
    expect(cookieNamed(forged, 'imagerec_session')).toBeUndefined();
    const { res } = await signIn('not-the-key-0123456789');
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('not a valid API key');
    expect(cookieNamed(res, 'imagerec_session')).toBeUndefined();
  });

  it('refuses a tampered cookie, one signed with another secret, and one of a removed key', async () => {
    const { res, cookie } = await signIn();
    const value = cookieNamed(res, 'imagerec_session')?.value ?? '';
    const tampered = value.replace('.browser.', '.other.');
    const page = (app = api.app, c = `imagerec_session=${tampered}`) =>
      app.inject({ url: '/', headers: { cookie: c } });
    expect((await page()).statusCode).toBe(303);

    // Another replica: the same SESSION_SECRET accepts the cookie, another one does not.
    const replica = (env: object) =>
      api.replica((c) => ({ ...c, security: { ...c.security, ...env } }));
    const same = await replica({});
    const other = await replica({ session: { secret: `x${SECRET}`, ttlS: TTL_S } });
    const keyRemoved = await replica({
      apiKeys: [{ id: 'someone-else', secret: 'another-secret-0123456789' }],
    });
    expect((await page(same, cookie)).statusCode).toBe(200);
    expect((await page(other, cookie)).statusCode).toBe(303);
    expect((await page(keyRemoved, cookie)).statusCode).toBe(303);
  });

  it('ends a session after SESSION_TTL_S, even if the browser still sends the cookie', async () => {
    const { cookie } = await signIn();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + (TTL_S - 5) * 1000);
    expect((await api.app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(200);
    vi.setSystemTime(Date.now() + 10_000);
    const expired = await api.app.inject({ url: '/', headers: { cookie } });
    expect(expired.statusCode).toBe(303);
    expect(expired.headers.location).toBe('/signin');
  });

  it('signs out with the CSRF token: both cookies cleared, back to the sign-in form', async () => {
    const signedIn = await signIn();
    const page = await api.app.inject({ url: '/', headers: { cookie: signedIn.cookie } });
    const cookie = cookieHeader(signedIn.res, page);
    const withoutToken = await api.app.inject({
      method: 'POST',
      url: '/signout',
      ...form({}),
      headers: { ...form({}).headers, cookie },
    });
    expect(withoutToken.statusCode).toBe(403);
    const body = form({ _csrf: csrfToken(page.body) });
    const out = await api.app.inject({
      method: 'POST',
      url: '/signout',
      payload: body.payload,
      headers: { ...body.headers, cookie },
    });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/signin');
    for (const name of ['imagerec_session', 'imagerec_csrf']) {
      const cleared = cookieNamed(out, name);
      expect(cleared?.value, name).toBe('');
      expect(cleared?.expires?.getTime(), name).toBeLessThanOrEqual(Date.now());
    }
  });

  it('documents the sign-in routes and which routes take a session (OpenAPI)', async () => {
    const doc = (
      await api.app.inject({ url: '/docs/json', headers: { authorization: `Bearer ${KEY}` } })
    ).json();
    expect(doc.components.securitySchemes.session).toEqual({
      type: 'apiKey',
      in: 'cookie',
      name: 'imagerec_session',
    });
    const withSession = [{ bearer: [] }, { session: [] }];
    expect(doc.paths['/'].get.security).toEqual(withSession);
    expect(doc.paths['/predict'].post.security).toEqual(withSession);
    expect(doc.paths['/v1/jobs/{id}'].get.security).toEqual(withSession);
    expect(doc.paths['/v1/predictions'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/signin'].post.security).toEqual([]);
    expect(doc.paths['/signin'].get.responses).not.toHaveProperty('401');
    expect(doc.paths['/signin'].post.requestBody.content).toHaveProperty(
      'application/x-www-form-urlencoded',
    );
    expect(doc.paths['/signout'].post.responses).toHaveProperty('303');
  });
});
