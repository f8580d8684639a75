import {
  type ClassifyJobData,
  type ClassifyResult,
  createRedis,
  modelInfo,
} from '@imagerec/shared';
import { type FilePart, multipartBody } from '@imagerec/test-support/multipart';
import { uniqueImage } from '@imagerec/test-support/unique-image';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, useApi } from './support/api-harness.js';

const TTL_S = 120;

interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
  json(): unknown;
}

const jobIds = (res: Answer) => (res.json() as { jobs: { id: string }[] }).jobs.map((j) => j.id);

describe('Idempotency-Key and identical uploads joining one job: real Redis and MongoDB', () => {
  const h = useApi({ IDEMPOTENCY_TTL_S: String(TTL_S), RATE_LIMIT_MAX: '0' });
  let redis: Redis;
  const all = () => h.queue.getJobCountByTypes('waiting', 'prioritized', 'active', 'delayed');
  const withKey = (key: string, parts: FilePart[], url = '/v1/jobs', ip = '127.0.0.1') =>
    multipartBody(parts).then((body) =>
      h.app.inject({
        method: 'POST',
        url,
        payload: body.payload,
        headers: { ...body.headers, 'idempotency-key': key },
        remoteAddress: ip,
      }),
    );

  beforeAll(() => {
    redis = createRedis(h.config.redis.url);
  });

  afterAll(async () => {
    const keys = await redis.keys(`${h.config.queue.name}:idempotency:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('200 concurrent submissions under 20 keys create exactly 20 jobs', async () => {
    const before = await all();
    const images = await Promise.all(
      Array.from({ length: 20 }, (_, i) => uniqueImage(`k${i}.png`)),
    );
    const requests = Array.from({ length: 200 }, (_, n) => {
      const k = n % 20;
      return withKey(`batch-${k}`, [images[k] as FilePart]).then((res) => ({ k, res }));
    });
    const answers = await Promise.all(requests);
    expect(await all()).toBe(before + 20);

    const statuses = new Set(answers.map(({ res }) => res.statusCode));
    expect([...statuses].every((s) => s === 202 || s === 409)).toBe(true);
    // One first answer per key; every other 202 is its replay, naming the same job.
    const first = answers.filter(
      ({ res }) => res.statusCode === 202 && !res.headers['idempotent-replayed'],
    );
    expect(first.map(({ k }) => k).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    for (const { k, res } of answers.filter(({ res }) => res.statusCode === 202)) {
      const original = first.find((f) => f.k === k)?.res as Answer;
      expect(res.body).toBe(original.body);
    }
    for (const { res } of answers.filter(({ res }) => res.statusCode === 409)) {
      expect(res.json()).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_IN_FLIGHT' } });
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
    }
  });

  it('replays the first answer for the same key and request, whatever the multipart boundary', async () => {
    const image = await uniqueImage('replay.png');
    const a = await multipartBody([image]);
    const b = await multipartBody([image]);
    expect(a.headers['content-type']).not.toBe(b.headers['content-type']);
    const first = await withKey('"replay-1"', [image]);
    expect(first.statusCode).toBe(202);
    const before = await all();
    // The sf-string form and the bare token name the same key.
    const again = await withKey('replay-1', [image]);
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(again.body).toBe(first.body);
    expect(await all()).toBe(before);
  });

  it('answers 422 for the same key with another request, and keeps the first answer', async () => {
    const [one, two] = await Promise.all([uniqueImage('one.png'), uniqueImage('two.png')]);
    const first = await withKey('reuse-1', [one]);
    expect(first.statusCode).toBe(202);
    for (const other of [
      withKey('reuse-1', [two]),
      withKey('reuse-1', [{ ...one, filename: 'renamed.png' }]),
      withKey('reuse-1', [one], '/v1/jobs?topK=3'),
      withKey('reuse-1', [one], '/v1/predict'),
    ]) {
      const res = await other;
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
    }
    expect(jobIds(await withKey('reuse-1', [one]))).toEqual(jobIds(first));
  });

  it('answers 409 while the first request under the key still runs', async () => {
    const image = await uniqueImage('slow.png');
    // No worker: the synchronous predict waits out its timeout, in flight meanwhile.
    const slow = withKey('flight-1', [image], '/v1/predict?timeoutMs=1500');
    await new Promise((r) => setTimeout(r, 300));
    const during = await withKey('flight-1', [image], '/v1/predict?timeoutMs=1500');
    expect(during.statusCode).toBe(409);
    expect(during.json()).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_IN_FLIGHT' } });
    const first = await slow;
    expect(first.statusCode).toBe(202);
    const after = await withKey('flight-1', [image], '/v1/predict?timeoutMs=1500');
    expect(after.statusCode).toBe(202);
    expect(after.body).toBe(first.body);
  });

  it('keeps keys per client, frees a key after an error answer, and keeps answers IDEMPOTENCY_TTL_S', async () => {
    const [mine, theirs] = await Promise.all([uniqueImage('a.png'), uniqueImage('b.png')]);
    const a = await withKey('scope-1', [mine], '/v1/jobs', '10.0.0.1');
    const b = await withKey('scope-1', [theirs], '/v1/jobs', '10.0.0.2');
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(jobIds(a)).not.toEqual(jobIds(b));

    const bad = { filename: 'bad.png', bytes: Buffer.from('not an image') };
    expect((await withKey('error-1', [bad])).statusCode).toBe(415);
    expect((await withKey('error-1', [mine])).statusCode).toBe(202);

    const keys = await redis.keys(`${h.config.queue.name}:idempotency:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(TTL_S);
    }
  });

  it('keeps keys per API key where API_KEYS is set', async () => {
    const keyed = await startApi({ API_KEYS: `a:${'a'.repeat(16)},b:${'b'.repeat(16)}` });
    const [mine, theirs] = await Promise.all([uniqueImage('a.png'), uniqueImage('b.png')]);
    const as = (secret: string, part: FilePart) =>
      keyed.post('/v1/jobs', [part], {
        authorization: `Bearer ${secret.repeat(16)}`,
        'idempotency-key': 'shared-key',
      });
    const a = await as('a', mine);
    const b = await as('b', theirs);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(jobIds(a)).not.toEqual(jobIds(b));
    expect((await as('a', theirs)).statusCode).toBe(422);
    expect((await as('b', theirs)).headers['idempotent-replayed']).toBe('true');
  });

  it('refuses a malformed key with 400', async () => {
    const res = await withKey('has spaces in it', [await uniqueImage('x.png')]);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });

  it('100 identical uploads in flight make one job, which all of them name', async () => {
    const image = await uniqueImage('same.png');
    const before = await all();
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => h.post('/v1/jobs', [image])),
    );
    expect(answers.every((res) => res.statusCode === 202)).toBe(true);
    const ids = new Set(answers.flatMap(jobIds));
    expect(ids.size).toBe(1);
    expect(await all()).toBe(before + 1);
    // A predict of the same bytes runs in its own lane (it expires with its caller's timeout).
    const predict = await h.post('/v1/predict?timeoutMs=100', [image]);
    expect(predict.statusCode).toBe(202);
    expect(ids.has((predict.json() as { id: string }).id)).toBe(false);
  });

  it('joined predicts wait for the one job; once it ended, the same bytes run again', async () => {
    const image = await uniqueImage('cat.png');
    const processed: string[] = [];
    const stub = new Worker<ClassifyJobData, ClassifyResult>(
      h.config.queue.name,
      async (job) => {
        processed.push(String(job.id));
        return {
          predictions: [{ index: 286, label: 'Egyptian cat', score: 0.9 }],
          model: modelInfo(h.config.model.precision),
          timings: { queuedMs: 1, inferenceMs: 1, totalMs: 2, batchSize: 1 },
          cached: false,
          processedBy: 'stub',
        };
      },
      { connection: createRedis(h.config.redis.url), autorun: false },
    );
    try {
      await h.queue.drain();
      const predicts = Promise.all(
        Array.from({ length: 10 }, () => h.post('/v1/predict?timeoutMs=10000', [image])),
      );
      // Let every request reach the queue before the stand-in worker starts.
      await new Promise((r) => setTimeout(r, 1000));
      void stub.run();
      const answers = await predicts;
      expect(answers.map((res) => res.statusCode)).toEqual(Array(10).fill(200));
      const views = answers.map((res) => res.json() as { id: string; status: string });
      expect(new Set(views.map((v) => v.id)).size).toBe(1);
      expect(views.every((v) => v.status === 'completed')).toBe(true);
      expect(processed).toHaveLength(1);

      const again = await h.post('/v1/predict?timeoutMs=10000', [image]);
      expect(again.statusCode).toBe(200);
      expect((again.json() as { id: string }).id).not.toBe(views[0]?.id);
      expect(processed).toHaveLength(2);
    } finally {
      await stub.close();
    }
  });
});
