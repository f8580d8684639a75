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
import { type Queue, Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filePart, multipartBody } from '../../../tests/support/multipart.js';
import { IMAGES_DIR } from '../../../tests/support/test-config.js';
import { buildApp } from '../src/app.js';
import { type ApiHarness, startApi } from './support/api-harness.js';

const cat = filePart(join(IMAGES_DIR, 'cat.png'));

describe('API component: real Redis and MongoDB, no worker', () => {
  let config: AppConfig;
  let app: FastifyInstance;
  let queue: Queue<ClassifyJobData, ClassifyResult>;
  let repository: PredictionRepository;
  let harness: ApiHarness;
  const post: ApiHarness['post'] = (...args) => harness.post(...args);
  const queued = () => queue.getJobCountByTypes('waiting', 'prioritized', 'active', 'delayed');

  beforeAll(async () => {
    harness = await startApi({ MAX_UPLOAD_BYTES: String(2 * 1024 * 1024), MAX_FILES: '3' });
    ({ config, app, queue, repository } = harness);
  });

  afterAll(() => harness.close());

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
    expect(answer.json()).toMatchObject({ id, status: 'completed' });
    expect(Date.now() - started).toBeLessThan(5000);
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

  it.each([
    ['no file', [{ name: 'other', filename: 'x.png', bytes: cat.bytes }], 400, 'NO_IMAGE'],
    ['too many files', [cat, cat, cat, cat], 400, 'TOO_MANY_FILES'],
    [
      'a file over the size limit',
      [{ filename: 'big.png', bytes: new Uint8Array(3 * 1024 * 1024) }],
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'bytes that are no image, named .png',
      [
        {
          filename: 'fake.png',
          bytes: Buffer.from('hello world, not a picture'),
          type: 'image/png',
        },
      ],
      415,
      'UNSUPPORTED_FORMAT',
    ],
    [
      'a truncated PNG',
      [{ filename: 'cut.png', bytes: cat.bytes.subarray(0, 20_000) }],
      422,
      'UNDECODABLE_IMAGE',
    ],
  ])('refuses %s before anything is queued', async (_name, parts, status, code) => {
    const before = await queued();
    const res = await post('/v1/jobs', parts);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: { code } });
    expect(await queued()).toBe(before);
  });

  it('refuses a good file together with a bad one, whole', async () => {
    const before = await queued();
    const res = await post('/v1/jobs', [
      cat,
      { filename: 'bad.gif', bytes: Buffer.from('GIF89a broken') },
    ]);
    expect(res.statusCode).toBe(422);
    expect(await queued()).toBe(before);
  });

  it('refuses an image over the pixel limit without decoding it', async () => {
    const small = await buildApp({ ...config, api: { ...config.api, maxPixels: 1000 } });
    const body = await multipartBody([cat]);
    const res = await small.inject({ method: 'POST', url: '/v1/jobs', ...body });
    await small.close();
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: { code: 'TOO_MANY_PIXELS' } });
  });

  it.each([
    ['/v1/jobs?topK=0', 'POST'],
    ['/v1/jobs?topK=21', 'POST'],
    ['/v1/predict?timeoutMs=60001', 'POST'],
    ['/v1/predictions?limit=abc', 'GET'],
    ['/v1/jobs/some-id?waitMs=-5', 'GET'],
  ])('answers bad query values with 400: %s', async (url, method) => {
    const res =
      method === 'POST' ? await post(url, [cat]) : await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });

  it('answers 404 for an unknown job and an unknown route, as JSON', async () => {
    const job = await app.inject({ url: '/v1/jobs/does-not-exist' });
    expect(job.statusCode).toBe(404);
    expect(job.json()).toMatchObject({ error: { code: 'JOB_NOT_FOUND' } });
    const route = await app.inject({ url: '/nope' });
    expect(route.statusCode).toBe(404);
    expect(route.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('still accepts a good upload after refusing bad ones', async () => {
    const res = await post('/v1/jobs', [cat]);
    expect(res.statusCode).toBe(202);
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
    expect(html.body).toContain('src="data:image/webp;base64,');

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
    expect(thumb.headers['content-type']).toBe('image/webp');
    expect((await sharp(thumb.rawPayload).metadata()).width).toBeLessThanOrEqual(
      DEFAULT_THUMBNAIL_SIZE,
    );
  });

  it('refuses a form field other than image with 400, as its document says', async () => {
    for (const name of ['note', 'constructor']) {
      const form = new FormData();
      form.append('image', new Blob([cat.bytes], { type: 'image/png' }), cat.filename);
      form.append(name, 'x');
      const body = new Request('http://localhost/', { method: 'POST', body: form });
      const res = await app.inject({
        method: 'POST',
        url: '/v1/jobs',
        payload: Buffer.from(await body.arrayBuffer()),
        headers: { 'content-type': body.headers.get('content-type') ?? '' },
      });
      expect(res.statusCode, name).toBe(400);
      expect(res.json(), name).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      // The multipart parser refuses a prototype name itself, with its own message.
      if (name === 'note') expect(res.json().error.message).toContain('"note"');
    }
    const otherFile = await post('/v1/jobs', [{ ...cat, name: 'picture' }]);
    expect(otherFile.statusCode).toBe(400);
  });

  it('documents every route in OpenAPI 3 with response schemas', async () => {
    const res = await app.inject({ url: '/docs/json' });
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, { responses: object }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/predict',
      '/predict',
      '/v1/predictions',
      '/',
      '/health',
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
    type FormSchema = { properties: { image: object } };
    type Upload = { requestBody: { content: Record<string, { schema: FormSchema }> } };
    const formSchema = (path: string) =>
      (doc.paths[path]?.post as unknown as Upload | undefined)?.requestBody.content[
        'multipart/form-data'
      ]?.schema;
    // One file for the predict calls (the history form's several are not the API's contract),
    // 1 to MAX_FILES for /v1/jobs, and no field but `image` and `callbackUrl`.
    for (const path of ['/v1/predict', '/predict']) {
      expect(formSchema(path)?.properties.image, path).toMatchObject({
        type: 'string',
        format: 'binary',
      });
    }
    expect(formSchema('/v1/jobs')?.properties.image).toMatchObject({
      anyOf: [
        { type: 'string', format: 'binary' },
        { type: 'array', items: { format: 'binary' }, minItems: 1, maxItems: 3 },
      ],
    });
    for (const path of ['/v1/predict', '/predict', '/v1/jobs']) {
      const body = formSchema(path);
      expect(body, path).toMatchObject({
        required: ['image'],
        propertyNames: { enum: ['image', 'callbackUrl'] },
      });
      // schemathesis cannot judge a `not` against a file part (ValueError: Unsupported type).
      expect(JSON.stringify(body), path).not.toContain('"not"');
    }
    expect(Object.keys(doc.paths['/v1/predict']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '202', '413', '415', '422']),
    );
  });

  it('reports healthy when its backends answer', async () => {
    const res = await app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-instance']).toBeTruthy();
  });
});
