import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ImagerecClient, verifyWebhook } from './index.js';

const SECRET = `whsec_${Buffer.from('a test secret of 32 bytes length').toString('base64')}`;
const view = { id: '0b7f4c7e-2d1b-4a36-9a43-5c1f0d7c9e11', status: 'completed' };

const signed = (body: string, at = new Date()) => {
  const id = 'msg_1';
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(SECRET).sign(id, at, body),
  };
};

describe('verifyWebhook', () => {
  const body = JSON.stringify(view);

  it("answers the payload of a call signed with the library's own signer", () => {
    expect(verifyWebhook(body, signed(body), SECRET)).toEqual(view);
    expect(
      verifyWebhook(new TextEncoder().encode(body), new Headers(signed(body)), SECRET),
    ).toEqual(view);
  });

  it('throws on a changed body, another secret, or an old timestamp', () => {
    const headers = signed(body);
    expect(() => verifyWebhook(body.replace('completed', 'failed'), headers, SECRET)).toThrow();
    const other = `whsec_${Buffer.from('another secret of 32 bytes long!').toString('base64')}`;
    expect(() => verifyWebhook(body, headers, other)).toThrow();
    expect(() =>
      verifyWebhook(body, signed(body, new Date(Date.now() - 3600_000)), SECRET),
    ).toThrow();
  });
});

describe('ImagerecClient', () => {
  it('sends files as multipart with the Idempotency-Key, and reads a replayed answer', async () => {
    const seen: Request[] = [];
    const client = new ImagerecClient({
      baseUrl: 'http://api.test/',
      apiKey: 'k'.repeat(16),
      fetch: async (request) => {
        seen.push((request as Request).clone());
        return Response.json(
          { jobs: [{ id: view.id, status: 'queued', statusUrl: `/v1/jobs/${view.id}` }] },
          { status: 202, headers: { 'idempotent-replayed': 'true' } },
        );
      },
    });
    const answer = await client.submit([{ filename: 'a.png', bytes: new Uint8Array([1, 2]) }], {
      topK: 3,
      idempotencyKey: 'key-1',
    });
    expect(answer).toMatchObject({
      status: 202,
      replayed: true,
      body: { jobs: [{ id: view.id }] },
    });
    const [request] = seen;
    expect(request?.url).toBe('http://api.test/v1/jobs?topK=3');
    expect(request?.headers.get('idempotency-key')).toBe('key-1');
    expect(request?.headers.get('authorization')).toBe(`Bearer ${'k'.repeat(16)}`);
    const form = await request?.formData();
    const file = form?.get('image') as File;
    expect(file.name).toBe('a.png');
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(new Uint8Array([1, 2]));
  });

  it("throws the catalog's error with its status and code", async () => {
    const client = new ImagerecClient({
      baseUrl: 'http://api.test',
      fetch: async () =>
        Response.json(
          { error: { code: 'QUEUE_FULL', message: 'full' } },
          { status: 503, headers: { 'retry-after': '2' } },
        ),
    });
    await expect(client.predict(new Blob([new Uint8Array([1])]))).rejects.toMatchObject({
      status: 503,
      code: 'QUEUE_FULL',
      retryAfterS: 2,
    });
  });
});
