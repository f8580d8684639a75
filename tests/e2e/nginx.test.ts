import { randomUUID } from 'node:crypto';
import { type ClassifyJobData, createRedis, JobName, JobStatus, QueueName } from '@imagerec/shared';
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { expectOneCounter, remainingWithForgedAddresses } from '../support/rate-limit.js';
import { API_URLS, NGINX_URL } from '../support/stack.js';

async function instanceOf(url: string): Promise<string | null> {
  const res = await fetch(url);
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return res.headers.get('x-instance');
}

describe('nginx in front of the API processes', () => {
  it('limits a client by its own address, whatever X-Forwarded-For or X-Real-IP it sends', async () => {
    // The stack's limit is high; the counter behind each answer shows in X-RateLimit-Remaining.
    expectOneCounter(await remainingWithForgedAddresses(NGINX_URL));
  });

  it('spreads requests over every API process', async () => {
    const direct = new Set(await Promise.all(API_URLS.map((u) => instanceOf(`${u}/health`))));
    expect(direct.size).toBe(API_URLS.length);
    const seen = new Set<string | null>();
    for (let i = 0; i < 20; i++) seen.add(await instanceOf(`${NGINX_URL}/health`));
    expect(seen).toEqual(direct);
  });

  it("keeps a client's request id and makes one otherwise", async () => {
    const given = await fetch(`${NGINX_URL}/health`, {
      headers: { 'x-request-id': 'e2e-nginx-1' },
    });
    expect(given.headers.get('x-request-id')).toBe('e2e-nginx-1');
    const made = await fetch(`${NGINX_URL}/health`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
    await Promise.all([given.arrayBuffer(), made.arrayBuffer()]);
  });

  it('answers an upload over the limit itself, with 413 and a JSON error', async () => {
    const form = new FormData();
    form.append(
      'image',
      new Blob([new Uint8Array(12 * 1024 * 1024)], { type: 'image/png' }),
      'big.png',
    );
    const res = await fetch(`${NGINX_URL}/v1/jobs`, { method: 'POST', body: form });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    // Set by every API process: its absence shows the request never reached one.
    expect(res.headers.get('x-instance')).toBeNull();
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('holds a 20 s long-poll without a proxy timeout', async () => {
    const queueName = process.env.QUEUE_NAME ?? QueueName.Classify;
    const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6390');
    const queue = new Queue<ClassifyJobData>(queueName, { connection: redis });
    const id = randomUUID();
    const data: ClassifyJobData = {
      upload: {
        filename: 'e2e-nginx.png',
        sha256: '0'.repeat(64),
        byteSize: 1,
        width: 1,
        height: 1,
        format: 'png',
      },
      thumbnail: '',
      topK: 5,
      acceptedAt: Date.now(),
    };
    // Delayed past the long-poll, so no worker takes it: the job stays queued throughout.
    await queue.add(JobName.Classify, data, { jobId: id, delay: 60_000 });
    try {
      const started = Date.now();
      const res = await fetch(`${NGINX_URL}/v1/jobs/${id}?waitMs=20000`);
      const elapsedMs = Date.now() - started;
      expect(res.status).toBe(200);
      expect(elapsedMs).toBeGreaterThanOrEqual(19_500);
      const body = (await res.json()) as { status: string };
      expect(body.status).toBe(JobStatus.Queued);
    } finally {
      await queue.remove(id);
      await queue.close();
      redis.disconnect();
    }
  });
});
