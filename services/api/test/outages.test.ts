import { type AppConfig, createRedis } from '@imagerec/shared';
import { multipartBody } from '@imagerec/test-support/multipart';
import { failedRecord } from '@imagerec/test-support/records';
import { TcpProxy } from '@imagerec/test-support/tcp-proxy';
import { testConfig } from '@imagerec/test-support/test-config';
import { uniqueImage } from '@imagerec/test-support/unique-image';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useApi } from './support/api-harness.js';

/** Retries `attempt` until it returns true or `timeoutMs` passes. */
async function eventually(attempt: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await attempt()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

describe('API component: Redis or MongoDB unreachable, and a full queue', () => {
  let app: FastifyInstance;
  let redisProxy: TcpProxy;
  let mongoProxy: TcpProxy;
  let queue: Queue;
  let base: AppConfig;

  const upload = async (url = '/v1/jobs') => {
    // Each upload its own bytes: identical ones would join the job still queued.
    const body = await multipartBody([await uniqueImage('cat.png')]);
    const started = Date.now();
    const res = await app.inject({ method: 'POST', url, ...body });
    return { res, ms: Date.now() - started };
  };

  beforeAll(async () => {
    base = testConfig();
    redisProxy = await TcpProxy.start(base.redis.url);
    mongoProxy = await TcpProxy.start(base.mongo.url);
  });

  // Hooks after run in reverse order: the proxies close after the API, and pass again before.
  afterAll(async () => {
    await redisProxy.close();
    await mongoProxy.close();
  });

  // The API reaches Redis and MongoDB through the proxies; the test's queue goes direct.
  const api = useApi(() => ({
    ...base,
    redis: { url: redisProxy.rewrite(base.redis.url) },
    mongo: { ...base.mongo, url: mongoProxy.rewrite(base.mongo.url) },
    api: { ...base.api, maxQueueDepth: 3 },
  }));

  beforeAll(() => {
    ({ app } = api);
    queue = new Queue(base.queue.name, { connection: createRedis(base.redis.url) });
  });

  afterAll(async () => {
    await queue.close();
    await redisProxy.restore();
    await mongoProxy.restore();
  });

  it('answers 503 with Retry-After at once while Redis is down, and recovers by itself', async () => {
    expect((await upload()).res.statusCode).toBe(202);
    await redisProxy.cut();
    for (const url of ['/v1/jobs', '/v1/predict']) {
      const { res, ms } = await upload(url);
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(res.json()).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
      expect(ms).toBeLessThan(1000);
    }
    const health = await app.inject({ url: '/health' });
    expect(health.statusCode).toBe(503);
    expect(health.headers['retry-after']).toBeDefined();

    await redisProxy.restore();
    expect(await eventually(async () => (await upload()).res.statusCode === 202, 15_000)).toBe(
      true,
    );
  });

  it('answers 503 with Retry-After within a second while MongoDB is down, and recovers', async () => {
    await queue.drain();
    // One stored prediction, so that the history's pages read MongoDB.
    await app.repository.upsertMany([failedRecord('stored-before-the-outage')]);
    await mongoProxy.cut();
    // An upload needs only Redis (the queue and the content cache): it is still accepted.
    const { res } = await upload();
    expect(res.statusCode).toBe(202);
    for (const url of ['/v1/predictions', '/', '/v1/jobs/no-such-job']) {
      const started = Date.now();
      const page = await app.inject({ url });
      expect(page.statusCode, url).toBe(503);
      expect(page.headers['retry-after'], url).toBeDefined();
      expect(Date.now() - started, url).toBeLessThan(1000);
    }

    await mongoProxy.restore();
    expect(
      await eventually(
        async () => (await app.inject({ url: '/v1/predictions' })).statusCode === 200,
        15_000,
      ),
    ).toBe(true);
    expect((await upload()).res.statusCode).toBe(202);
  });

  it('refuses submissions with 503 and Retry-After once MAX_QUEUE_DEPTH jobs wait', async () => {
    await queue.drain();
    for (let i = 0; i < 3; i++) expect((await upload()).res.statusCode).toBe(202);
    const before = await queue.getJobCountByTypes('wait', 'prioritized');
    for (const url of ['/v1/jobs', '/v1/predict']) {
      const { res, ms } = await upload(url);
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(res.json()).toMatchObject({ error: { code: 'QUEUE_FULL' } });
      expect(ms).toBeLessThan(1000);
    }
    expect(await queue.getJobCountByTypes('wait', 'prioritized')).toBe(before);
    expect(app.jobs.stats.admissionRefused).toBe(2);

    await queue.drain();
    expect((await upload()).res.statusCode).toBe(202);
  });
});
