import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { filePart, multipartBody } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { startApi, useApi } from './support/api-harness.js';

const KEY = 'ci-secret-0123456789abcdef';
const OTHER_KEY = 'other-secret-0123456789';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API component: API keys, rate limits, security headers', () => {
  describe('with API_KEYS set', () => {
    const api = useApi({ API_KEYS: `ci:${KEY},${OTHER_KEY}`, RATE_LIMIT_MAX: '0' });
    let app: FastifyInstance;
    beforeAll(() => {
      ({ app } = api);
    });

    it.each([
      ['GET', '/v1/predictions'],
      ['GET', '/v1/jobs/some-id'],
      ['GET', '/v1/jobs/some-id/thumbnail'],
      ['POST', '/v1/jobs'],
      ['POST', '/v1/predict'],
      ['POST', '/predict'],
      ['GET', '/'],
      ['GET', '/docs'],
      ['GET', '/docs/json'],
      ['GET', '/admin/queues'],
      ['GET', '/admin/queues/api/queues'],
    ] as const)('refuses %s %s without a valid key: 401', async (method, url) => {
      // Without any credential the page sends a browser to its sign-in form (session.test.ts).
      const anonymous = url === '/' ? [] : [{}];
      for (const headers of [
        ...anonymous,
        bearer('wrong-key-0123456789'),
        { authorization: KEY },
      ]) {
        const res = await app.inject({ method, url, headers });
        expect(res.statusCode).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        // The history page answers its errors as HTML, everything else as JSON.
        if (url === '/') expect(res.body).toContain('UNAUTHORIZED');
        else expect(res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      }
    });

    it('serves a request that carries a configured key, named or bare', async () => {
      for (const key of [KEY, OTHER_KEY]) {
        const res = await app.inject({ url: '/v1/predictions', headers: bearer(key) });
        expect(res.statusCode).toBe(200);
      }
      const body = await multipartBody([filePart(join(IMAGES_DIR, 'cat.png'))]);
      const res = await app.inject({
        method: 'POST',
        url: '/v1/jobs',
        payload: body.payload,
        headers: { ...body.headers, ...bearer(KEY) },
      });
      expect(res.statusCode).toBe(202);
    });

    it('keeps the probes open, and the OpenAPI document says so', async () => {
      for (const url of ['/health', '/healthz', '/readyz', '/metrics']) {
        expect((await app.inject({ url })).statusCode, url).toBe(200);
      }
      type Doc = { paths: Record<string, { get: { responses: object; security?: object } }> };
      const { paths } = (
        await app.inject({ url: '/docs/json', headers: bearer(KEY) })
      ).json() as Doc;
      for (const probe of ['/health', '/healthz', '/readyz']) {
        expect(Object.keys(paths[probe]?.get.responses ?? {}), probe).not.toContain('401');
        expect(Object.keys(paths[probe]?.get.responses ?? {}), probe).not.toContain('429');
        expect(paths[probe]?.get.security, probe).toBeUndefined();
      }
      expect(Object.keys(paths['/v1/predictions']?.get.responses ?? {})).toEqual(
        expect.arrayContaining(['401', '429']),
      );
    });
  });

  describe('rate limits', () => {
    it('answers 429 with Retry-After past the limit, per key, shared by every replica', async () => {
      const env = { API_KEYS: `a:${KEY},b:${OTHER_KEY}`, RATE_LIMIT_MAX: '4' };
      const api = await startApi(env);
      const first = api.app;
      // The second replica shares the first's queue, so the same Redis keys.
      const second = await api.replica((c) => ({ ...c, api: { ...c.api, port: 1 } }));
      const codes = [];
      for (let i = 0; i < 5; i++) {
        const app = i % 2 === 0 ? first : second;
        codes.push((await app.inject({ url: '/v1/predictions', headers: bearer(KEY) })).statusCode);
      }
      expect(codes).toEqual([200, 200, 200, 200, 429]);
      const limited = await second.inject({ url: '/v1/predictions', headers: bearer(KEY) });
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
      // The queue board, which has an error handler of its own, answers the same.
      const board = await second.inject({ url: '/admin/queues', headers: bearer(KEY) });
      expect(board.statusCode).toBe(429);
      expect(board.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
      // Another key has its own budget; probes are never limited.
      expect(
        (await first.inject({ url: '/v1/predictions', headers: bearer(OTHER_KEY) })).statusCode,
      ).toBe(200);
      expect((await first.inject({ url: '/health' })).statusCode).toBe(200);
    });

    it('limits per client address, taken from X-Forwarded-For only when nginx sent it', async () => {
      const { app: trusting } = await startApi({ RATE_LIMIT_MAX: '2', TRUST_PROXY: '127.0.0.1' });
      const viaNginx = (client: string) =>
        trusting.inject({ url: '/v1/predictions', headers: { 'x-forwarded-for': client } });
      const a = [
        await viaNginx('203.0.113.1'),
        await viaNginx('203.0.113.1'),
        await viaNginx('203.0.113.1'),
      ];
      expect(a.map((r) => r.statusCode)).toEqual([200, 200, 429]);
      expect((await viaNginx('203.0.113.2')).statusCode).toBe(200);

      // Not from the trusted proxy: a forged header does not buy a fresh budget.
      const { app: direct } = await startApi({ RATE_LIMIT_MAX: '2', TRUST_PROXY: '10.9.9.9' });
      const forged = [];
      for (let i = 0; i < 3; i++) {
        forged.push(
          (
            await direct.inject({
              url: '/v1/predictions',
              headers: { 'x-forwarded-for': `198.51.100.${i}` },
            })
          ).statusCode,
        );
      }
      expect(forged).toEqual([200, 200, 429]);
    });
  });

  describe('security headers', () => {
    const api = useApi({ RATE_LIMIT_MAX: '0' });
    let app: FastifyInstance;
    beforeAll(() => {
      ({ app } = api);
    });

    it('sends a CSP that allows exactly the history page inline style', async () => {
      const page = await app.inject({ url: '/' });
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      const style = /<style>([\s\S]*?)<\/style>/.exec(page.body)?.[1] ?? '';
      const hash = createHash('sha256').update(style).digest('base64');
      expect(csp).toContain(`'sha256-${hash}'`);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      expect(page.headers['x-frame-options']).toBeDefined();
    });

    it('lets the queue board use inline styles, and loosens nothing else', async () => {
      const board = await app.inject({ url: '/admin/queues' });
      expect(board.statusCode).toBe(200);
      const csp = String(board.headers['content-security-policy']);
      expect(csp).toContain("style-src 'self' 'unsafe-inline'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'self'");
      expect(csp.match(/unsafe-inline/g)).toHaveLength(1);
      const page = await app.inject({ url: '/' });
      expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
    });

    it('serves Swagger UI with scripts and styles from its own origin only', async () => {
      const ui = await app.inject({ url: '/docs/' });
      expect(ui.statusCode).toBe(200);
      expect(ui.body).not.toMatch(/<script>(?!\s*<\/script>)|<style>|style="/);
      expect(ui.headers['content-security-policy']).toContain("script-src 'self'");
    });
  });
});
