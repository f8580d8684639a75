import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  type AppConfig,
  type ClassifyJobData,
  type ClassifyResult,
  createRedis,
  DEFAULT_THUMBNAIL_SIZE,
  MODEL_PRECISIONS,
  type ModelPrecision,
  modelInfo,
  type PredictionRecord,
  type PredictionRepository,
  PredictionStatus,
} from '@imagerec/shared';
import { filePart, multipartBody } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import { type Queue, Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../src/app.js';
import { type ApiHarness, useApi } from './support/api-harness.js';

const cat = filePart(join(IMAGES_DIR, 'cat.png'));

// Refused uploads and the upload's OpenAPI document: upload-contract.test.ts.
describe('API component: real Redis and MongoDB, no worker', () => {
  let config: AppConfig;
  let app: FastifyInstance;
  let queue: Queue<ClassifyJobData, ClassifyResult>;
  let repository: PredictionRepository;
  const harness = useApi({ MAX_UPLOAD_BYTES: String(2 * 1024 * 1024), MAX_FILES: '3' });
  const post: ApiHarness['post'] = (...args) => harness.post(...args);
  const queued = () => queue.getJobCountByTypes('waiting', 'prioritized', 'active', 'delayed');

  beforeAll(() => {
    ({ config, app, queue, repository } = harness);
  });

  it('queues one job per file in one call, and answers their state by id', async () => {
    const before = await queued();
    const res = await post('/v1/jobs?topK=3', [cat, filePart(join(IMAGES_DIR, 'parrot.jpg'))]);
    expect(res.statusCode).toBe(202);
    const { jobs } = res.json() as { jobs: { id: string; status: string; statusUrl: string }[] };
    expect(jobs).toHaveLength(2);
    expect(jobs.map((j) => j.status)).toEqual(['queued', 'queued']);
    expect(await queued()).toBe(before + 2);

    const job = await queue.getJob(jobs[0]?.id ?? '');
    expect(job?.data.upload).toMatchObject({
      filename: 'cat.png',
      format: 'png',
      width: 512,
      height: 341,
    });
    expect(job?.data.topK).toBe(3);
    expect(job?.opts.priority).toBeGreaterThan(1);
    // The upload itself travels nowhere: only a thumbnail and the 224x224 pixels.
    expect(JSON.stringify(job?.data).length).toBeLessThan(20_000);

    const status = await app.inject({ url: jobs[0]?.statusUrl ?? '' });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ id: jobs[0]?.id, status: 'queued', filename: 'cat.png' });
  });

  it('long-polls: answers as soon as the job completes', async () => {
    const res = await post('/v1/jobs', [cat]);
    const [{ id }] = (res.json() as { jobs: [{ id: string }] }).jobs;
    const started = Date.now();
    const reads = vi.spyOn(app.classifyQueue.bull, 'getJob');
    const poll = app.inject({ url: `/v1/jobs/${id}?waitMs=10000` });
    // A stand-in consumer completes the job, so only the API's waiting is under test here.
    const stub = new Worker<ClassifyJobData, ClassifyResult>(
      config.queue.name,
      async () => ({
        predictions: [{ index: 286, label: 'Egyptian cat', score: 0.9 }],
        model: modelInfo(config.model.precision),
        timings: { queuedMs: 1, inferenceMs: 1, totalMs: 2, batchSize: 1 },
        cached: false,
        processedBy: 'stub',
      }),
      { connection: createRedis(config.redis.url), autorun: false },
    );
    setTimeout(() => stub.run(), 300);
    const answer = await poll;
    await stub.close();
    expect(answer.json()).toMatchObject({
      id,
      status: 'completed',
      filename: 'cat.png',
      predictions: [{ label: 'Egyptian cat' }],
    });
    expect(Date.now() - started).toBeLessThan(5000);
    // The completed event carried the result: the job was read once, before the wait.
    expect(reads).toHaveBeenCalledTimes(1);
    reads.mockRestore();
  });

  it('answers long-polls at once when it shuts down', async () => {
    const closing = await buildApp(config);
    const body = await multipartBody([cat]);
    const res = await closing.inject({ method: 'POST', url: '/v1/jobs', ...body });
    const [{ id }] = (res.json() as { jobs: [{ id: string }] }).jobs;
    const started = Date.now();
    const poll = closing.inject({ url: `/v1/jobs/${id}?waitMs=20000` });
    setTimeout(() => closing.close(), 200);
    const answer = await poll;
    expect(answer.json()).toMatchObject({ id, status: 'queued' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('answers a sync predict that runs out of time with 202 and a job to poll', async () => {
    const res = await post('/v1/predict?timeoutMs=1', [cat]);
    expect(res.statusCode).toBe(202);
    const body = res.json() as { id: string; status: string; statusUrl: string };
    expect(body.status).toBe('queued');
    const job = await queue.getJob(body.id);
    expect(job?.opts.priority).toBe(1);
  });

  it("sends a browser that posted the history page's form back to the page", async () => {
    const res = await post('/predict?timeoutMs=1', [cat], {
      accept: 'text/html,application/xhtml+xml',
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toMatch(/^\/\?pending=[0-9a-f-]{36}$/);
  });

  it('answers a repeated upload from the stored result of its own model only', async () => {
    const bytes = await sharp({
      create: { width: 64, height: 48, channels: 3, background: '#3a6' },
    })
      .png()
      .toBuffer();
    const earlier = (jobId: string, precision: ModelPrecision): PredictionRecord => ({
      jobId,
      status: PredictionStatus.Completed,
      filename: 'green.png',
      sha256: createHash('sha256').update(bytes).digest('hex'),
      byteSize: bytes.length,
      width: 64,
      height: 48,
      format: 'png',
      predictions: Array.from({ length: 5 }, (_, i) => ({
        index: i + 1,
        label: `l${i}`,
        score: 0.1,
      })),
      model: modelInfo(precision),
      createdAt: new Date(),
      finishedAt: new Date(),
    });
    const other = MODEL_PRECISIONS.find((p) => p !== config.model.precision) ?? 'fp32';
    await repository.upsertMany([earlier('earlier-other-precision', other)]);
    const before = await queued();
    const miss = await post('/v1/jobs', [{ filename: 'again.png', bytes }]);
    expect(miss.json()).toMatchObject({ jobs: [{ status: 'queued' }] });
    expect(await queued()).toBe(before + 1);

    await repository.upsertMany([earlier('earlier', config.model.precision)]);
    const res = await post('/v1/predict', [{ filename: 'again.png', bytes }]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'completed',
      cached: true,
      filename: 'again.png',
      model: modelInfo(config.model.precision),
    });
    expect(await queued()).toBe(before + 1);
    expect((await repository.findByJobId(res.json().id))?.cached).toBe(true);
  });

  it('answers a job that has left Redis from MongoDB', async () => {
    await repository.upsertMany([
      {
        jobId: 'stored-only',
        status: PredictionStatus.Failed,
        error: 'pixels expired',
        filename: 'old.jpg',
        sha256: 'x',
        byteSize: 1,
        width: 1,
        height: 1,
        format: 'jpeg',
        createdAt: new Date('2026-01-01T00:00:00Z'),
        finishedAt: new Date('2026-01-01T00:00:01Z'),
      },
    ]);
    const res = await app.inject({ url: '/v1/jobs/stored-only' });
    expect(res.json()).toMatchObject({ status: 'failed', error: 'pixels expired' });
  });

  it('serves the history as HTML and as JSON pages', async () => {
    const html = await app.inject({ url: '/' });
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.body).toContain('again.png');
    expect(html.body).toContain('<form method="post" action="/predict"');
    expect(html.body).toContain('src="data:image/jpeg;base64,');

    const first = await app.inject({ url: '/v1/predictions?limit=1' });
    const page = first.json() as { items: { id: string }[]; next: string };
    expect(page.items).toHaveLength(1);
    const second = await app.inject({
      url: `/v1/predictions?limit=10&before=${encodeURIComponent(page.next)}`,
    });
    const ids = (second.json() as { items: { id: string }[] }).items.map((i) => i.id);
    expect(ids).not.toContain(page.items[0]?.id);
    expect(ids.length).toBeGreaterThan(0);

    const bad = await app.inject({ url: '/v1/predictions?before=yesterday' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });

    const all = await app.inject({ url: '/v1/predictions?limit=100' });
    const withThumb = (all.json() as { items: { thumbnailUrl?: string }[] }).items.find(
      (i) => i.thumbnailUrl,
    );
    const thumb = await app.inject({ url: withThumb?.thumbnailUrl ?? '/missing' });
    expect(thumb.statusCode).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/jpeg');
    expect((await sharp(thumb.rawPayload).metadata()).width).toBeLessThanOrEqual(
      DEFAULT_THUMBNAIL_SIZE,
    );
  });

  it('serves a thumbnail stored as WebP, before thumbnails were JPEG, as WebP', async () => {
    const thumbnail = await sharp({
      create: { width: 32, height: 24, channels: 3, background: '#36a' },
    })
      .webp()
      .toBuffer();
    await repository.upsertMany([
      {
        jobId: 'webp-thumbnail',
        status: PredictionStatus.Failed,
        error: 'pixels expired',
        filename: 'older.jpg',
        sha256: 'webp-thumbnail',
        byteSize: 1,
        width: 32,
        height: 24,
        format: 'jpeg',
        thumbnail,
        createdAt: new Date(),
        finishedAt: new Date(),
      },
    ]);
    const res = await app.inject({ url: '/v1/jobs/webp-thumbnail/thumbnail' });
    expect(res.headers['content-type']).toBe('image/webp');
    expect(res.rawPayload.equals(thumbnail)).toBe(true);
    const html = await app.inject({ url: '/' });
    expect(html.body).toContain(`src="data:image/webp;base64,${thumbnail.toString('base64')}"`);
  });

  it('reports healthy when its backends answer', async () => {
    const res = await app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-instance']).toBeTruthy();
  });
});
