import { join } from 'node:path';
import {
  type AppConfig,
  type ClassifyJobData,
  ClassifyQueue,
  type ClassifyResult,
  createRedis,
  MetricName,
  RefusalReason,
} from '@imagerec/shared';
import { filePart } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import { uniqueImage } from '@imagerec/test-support/unique-image';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { queueBoardPlugin } from '../src/plugins/queue-board.plugin.js';
import { type ApiHarness, useApi } from './support/api-harness.js';

const cat = filePart(join(IMAGES_DIR, 'cat.png'));
const parrot = filePart(join(IMAGES_DIR, 'parrot.jpg'));

/** One sample's value from Prometheus text, by metric name and label subset. */
const sample = (text: string, name: string, labels: Record<string, string> = {}) => {
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith(`${name}{`) &&
        Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('API operations: probes, metrics, request ids, queue board, the page', () => {
  let config: AppConfig;
  let app: FastifyInstance;
  let queue: Queue<ClassifyJobData, ClassifyResult>;
  const harness = useApi();
  const post: ApiHarness['post'] = (...args) => harness.post(...args);

  beforeAll(() => {
    ({ config, app, queue } = harness);
  });

  it('answers liveness, and readiness with each backend checked; /health is readiness', async () => {
    const live = await app.inject({ url: '/healthz' });
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ status: 'ok' });
    for (const url of ['/readyz', '/health']) {
      const ready = await app.inject({ url });
      expect(ready.statusCode, url).toBe(200);
      expect(ready.json()).toEqual({ status: 'ok', checks: { redis: true, mongo: true } });
    }
  });

  it('reports the backlog at /queue-depth: bulk jobs are prioritized, and they count', async () => {
    const depth = async () => {
      const res = await app.inject({ url: '/queue-depth' });
      expect(res.statusCode).toBe(200);
      return res.json() as { backlog: number; waiting: number; prioritized: number };
    };
    const before = await depth();
    expect(before.backlog).toBe(before.waiting + before.prioritized);
    // Bytes of their own: the same ones would join the jobs the next tests queue.
    const parts = [await uniqueImage('cat.png'), await uniqueImage('parrot.jpg')];
    expect((await post('/v1/jobs', parts)).statusCode).toBe(202);
    const after = await depth();
    // No worker runs here: the jobs stay queued, in BullMQ's sorted set of prioritized jobs.
    expect(after.prioritized - before.prioritized).toBe(2);
    expect(after.backlog - before.backlog).toBe(2);
  });

  it('carries the X-Request-Id into the jobs, and replaces one that is not shaped like an id', async () => {
    const res = await post('/v1/jobs', [cat], { 'x-request-id': 'ops-test-0001' });
    expect(res.statusCode).toBe(202);
    expect(res.headers['x-request-id']).toBe('ops-test-0001');
    const [{ id }] = (res.json() as { jobs: [{ id: string }] }).jobs;
    expect((await queue.getJob(id))?.data.requestId).toBe('ops-test-0001');

    // Other bytes: the same ones would join the job just queued, which carries the first id.
    const odd = await post('/v1/jobs', [await uniqueImage('cat.png')], {
      'x-request-id': 'not an id\u0007',
    });
    const made = String(odd.headers['x-request-id']);
    expect(made).toMatch(/^[0-9a-f-]{36}$/);
    const [{ id: oddId }] = (odd.json() as { jobs: [{ id: string }] }).jobs;
    expect((await queue.getJob(oddId))?.data.requestId).toBe(made);
  });

  it('exports Prometheus metrics: request durations by route, queue depth, cache, process', async () => {
    await post('/v1/jobs', [parrot]);
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    expect(
      sample(text, `${MetricName.HttpRequestDuration}_count`, {
        route: '/v1/jobs',
        status_code: '202',
        service: 'api',
      }),
    ).toBeGreaterThanOrEqual(3);
    const counts = await queue.getJobCounts('prioritized', 'active', 'failed');
    expect(counts.prioritized).toBeGreaterThanOrEqual(3);
    expect(sample(text, MetricName.QueueJobs, { state: 'prioritized' })).toBe(counts.prioritized);
    expect(sample(text, MetricName.QueueJobs, { state: 'failed' })).toBe(counts.failed);
    expect(sample(text, MetricName.CacheLookups, { result: 'miss' })).toBeGreaterThanOrEqual(3);
    // At 0 before any refusal: the dashboard's refusals panel has a series to show.
    expect(sample(text, MetricName.JobsRefused, { reason: RefusalReason.QueueFull })).toBe(0);
    expect(text).toMatch(/^process_cpu_seconds_total\{service="api"\} /m);
    expect(text).toMatch(/^process_resident_memory_bytes\{service="api"\} /m);
    // A path no route has is one label value, whatever the path.
    await app.inject({ url: '/no/such/path/1' });
    await app.inject({ url: '/no/such/path/2' });
    const after = (await app.inject({ url: '/metrics' })).body;
    expect(
      sample(after, `${MetricName.HttpRequestDuration}_count`, {
        route: 'unmatched',
        status_code: '404',
      }),
    ).toBe(2);
  });

  it('takes several files from the page form and shows them as pending, with no inline script', async () => {
    const res = await post('/predict', [cat, parrot], { accept: 'text/html' });
    expect(res.statusCode).toBe(303);
    const location = String(res.headers.location);
    const ids = new URL(location, 'http://x').searchParams.get('pending')?.split(',') ?? [];
    expect(ids).toHaveLength(2);
    for (const id of ids) expect((await queue.getJob(id))?.opts.priority).toBe(1);

    const page = await app.inject({ url: location });
    expect(page.statusCode).toBe(200);
    for (const id of ids) {
      expect(page.body).toContain(`data-job-id="${id}" data-status="queued"`);
    }
    expect(page.body.match(/Pending/g)).toHaveLength(2);
    expect(page.body).toContain(
      '<input id="image" type="file" name="image" accept="image/*" multiple',
    );
    expect(page.body).toContain('<meta name="viewport"');
    // Scripts only from a served file, no handler attributes: a strict CSP can forbid inline code.
    expect(page.body.match(/<script[^>]*>/g)).toEqual(['<script src="/assets/history.js" defer>']);
    expect(page.body).not.toMatch(/\son[a-z]+=/);

    const script = await app.inject({ url: '/assets/history.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^application\/javascript/);
    expect(script.body).toContain('/v1/jobs/');

    const bad = await app.inject({ url: '/?pending=../../etc' });
    expect(bad.statusCode).toBe(400);
  });

  it('keeps a JSON client of /predict to one file', async () => {
    const res = await post('/predict', [cat, parrot]);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'TOO_MANY_FILES' } });
  });

  it('serves bull-board at /admin/queues; it, /metrics and /queue-depth stay outside the OpenAPI document', async () => {
    const ui = await app.inject({ url: '/admin/queues' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
    const api = await app.inject({ url: '/admin/queues/api/queues' });
    expect(api.statusCode).toBe(200);
    const names = (api.json() as { queues: { name: string }[] }).queues.map((q) => q.name);
    expect(names).toEqual([config.queue.name, config.webhooks.queueName, config.fetch.queueName]);
    const doc = (await app.inject({ url: '/docs/json' })).json() as { paths: object };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/admin'))).toEqual([]);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/healthz', '/readyz', '/health']),
    );
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
    expect(Object.keys(doc.paths)).not.toContain('/queue-depth');
  });

  it("runs the queue board's authorize hook before every board request", async () => {
    const board = Fastify();
    const redis = createRedis(config.redis.url);
    const classify = new ClassifyQueue(redis, config.queue);
    await board.register(queueBoardPlugin, {
      queues: [classify.bull],
      authorize: async (_request, reply) => reply.status(401).send({ error: 'no key' }),
    });
    try {
      for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
        expect((await board.inject({ url })).statusCode, url).toBe(401);
      }
    } finally {
      await board.close();
      await classify.close();
      redis.disconnect();
    }
  });
});
