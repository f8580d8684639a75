import { TestOrigin } from '@imagerec/test-support/outbound-origin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import { OutboundClient } from '../src/outbound.client.js';

const image = Buffer.from('fake image bytes');

/**
 * The guarded client against real local servers. The only addresses any test here lets it reach
 * are the allowed origin's; every other address (loopback, metadata, private) must be refused
 * before a connection is made, which the second origin's connection count shows.
 */
describe('OutboundClient', () => {
  let allowed: TestOrigin;
  let other: TestOrigin;
  let client: OutboundClient;

  const codeOf = async (url: string, c = client) => {
    try {
      await c.request({ method: 'GET', url, maxBytes: 1024 * 1024 });
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      return { code: (err as AppError).code, message: (err as AppError).message };
    }
    throw new Error(`${url} was fetched`);
  };

  beforeAll(async () => {
    allowed = await TestOrigin.start({ '/cat.png': image });
    other = await TestOrigin.start({ '/cat.png': image });
    client = new OutboundClient({
      allowedHosts: [`127.0.0.1:${allowed.port}`],
      allowPublic: true,
      connectTimeoutMs: 1000,
      timeoutMs: 1500,
    });
  });

  afterAll(async () => {
    client.close();
    await allowed.close();
    await other.close();
  });

  it('fetches from an allowed host:port, following redirects there', async () => {
    const res = await client.request({
      method: 'GET',
      url: allowed.redirect(allowed.redirect(allowed.url('/cat.png'))),
      maxBytes: 1024,
    });
    expect(res.status).toBe(200);
    expect(res.body.equals(image)).toBe(true);
    expect(res.url).toBe(allowed.url('/cat.png'));
  });

  it.each([
    ['127.0.0.1 on a port not allowed', () => other.url('/cat.png')],
    ['the metadata service', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a private address', () => 'http://10.20.30.40/cat.png'],
    ['a name that resolves to loopback', () => other.url('/cat.png', 'localhost')],
    ['the allowed port under a loopback name', () => allowed.url('/cat.png', 'localhost')],
    ['IPv6 loopback', () => `http://[::1]:${other.port}/`],
    ['an IPv4-mapped loopback', () => `http://[::ffff:127.0.0.1]:${other.port}/`],
    ['the unspecified address', () => `http://0.0.0.0:${other.port}/`],
  ])('refuses a redirect to %s, before connecting', async (_name, target) => {
    const before = { allowed: allowed.connections, other: other.connections };
    const { code } = await codeOf(allowed.redirect(target()));
    expect(code).toBe('FETCH_REFUSED');
    expect(other.connections).toBe(before.other);
    // The redirect itself came from the allowed origin (reused connection or one new).
    expect(allowed.connections - before.allowed).toBeLessThanOrEqual(1);
  });

  it('refuses the same targets asked for directly', async () => {
    const before = other.connections;
    for (const url of [
      other.url('/cat.png'),
      other.url('/cat.png', 'localhost'),
      'http://169.254.169.254/',
      'http://192.168.0.1/',
    ]) {
      expect((await codeOf(url)).code).toBe('FETCH_REFUSED');
    }
    expect(other.connections).toBe(before);
  });

  it('takes http and https only', async () => {
    for (const url of ['ftp://example.com/x', 'file:///etc/passwd', 'gopher://x/']) {
      expect(await codeOf(url)).toMatchObject({ code: 'FETCH_REFUSED' });
    }
    expect((await codeOf(allowed.redirect('file:///etc/passwd'))).code).toBe('FETCH_REFUSED');
  });

  it('follows at most 3 redirects', async () => {
    let url = allowed.url('/cat.png');
    for (let i = 0; i < 3; i++) url = allowed.redirect(url);
    expect((await client.request({ method: 'GET', url, maxBytes: 1024 })).status).toBe(200);
    expect(await codeOf(allowed.redirect(url))).toMatchObject({
      code: 'FETCH_REFUSED',
      message: 'More than 3 redirects',
    });
  });

  it('ends a slowloris at the whole-request timeout', async () => {
    const started = Date.now();
    expect((await codeOf(allowed.url('/slow'))).code).toBe('FETCH_TIMEOUT');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(5000);
  });

  it('stops reading at the size cap, declared or not', async () => {
    expect((await codeOf(allowed.url('/huge'))).code).toBe('FETCH_TOO_LARGE');
    expect((await codeOf(allowed.url('/huge-chunked'))).code).toBe('FETCH_TOO_LARGE');
  });

  it('reaches nothing off the allow-list when public addresses are off, not even DNS', async () => {
    const listedOnly = new OutboundClient({
      allowedHosts: [`127.0.0.1:${allowed.port}`],
      allowPublic: false,
      connectTimeoutMs: 1000,
      timeoutMs: 1000,
    });
    const ok = await listedOnly.request({
      method: 'GET',
      url: allowed.url('/cat.png'),
      maxBytes: 1024,
    });
    expect(ok.status).toBe(200);
    // A name that would need a DNS query is refused without one: the message names the list.
    expect(await codeOf('http://images.example.com/cat.png', listedOnly)).toEqual({
      code: 'FETCH_REFUSED',
      message: 'images.example.com is not on the outbound allow-list',
    });
    listedOnly.close();
  });

  it('reports a closed port as a failed fetch', async () => {
    const closed = await TestOrigin.start();
    const url = closed.url('/');
    await closed.close();
    const c = new OutboundClient({
      allowedHosts: [new URL(url).host],
      allowPublic: true,
      connectTimeoutMs: 1000,
      timeoutMs: 1000,
    });
    expect((await codeOf(url, c)).code).toBe('FETCH_FAILED');
    c.close();
  });
});
