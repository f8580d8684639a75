import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MetricName, modelInfo, type PredictionRecord, PredictionStatus } from '@imagerec/shared';
import { filePart } from '@imagerec/test-support/multipart';
import { TestOrigin } from '@imagerec/test-support/outbound-origin';
import { pollUntil } from '@imagerec/test-support/poll';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import {
  freePort,
  newWebhookSecret,
  WebhookReceiver,
} from '@imagerec/test-support/webhook-receiver';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from './support/api-harness.js';

const ATTEMPTS = 4;
const secret = newWebhookSecret();

/** A small image, distinct per call, whose result the cache already holds: it finishes at once. */
async function cachedImage(harness: ApiHarness, n: number) {
  const bytes = await sharp({
    create: { width: 40 + n, height: 30, channels: 3, background: '#36a' },
  })
    .png()
    .toBuffer();
  const record: PredictionRecord = {
    jobId: `seed-${n}-${Date.now()}`,
    status: PredictionStatus.Completed,
    filename: 'seed.png',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    byteSize: bytes.length,
    width: 40 + n,
    height: 30,
    format: 'png',
    predictions: Array.from({ length: 5 }, (_, i) => ({
      index: i + 1,
      label: `l${i}`,
      score: 0.1,
    })),
    model: modelInfo(harness.config.model.precision),
    createdAt: new Date(),
    finishedAt: new Date(),
  };
  await harness.repository.upsertMany([record]);
  return bytes;
}

/**
 * Webhooks and images by URL on a built API with real Redis and MongoDB and no worker: the jobs
 * here are answered from the result cache (or stay queued), which is enough to finish them.
 */
describe('webhooks and images by URL', () => {
  let harness: ApiHarness;
  let flaky: WebhookReceiver;
  let steady: WebhookReceiver;
  let origin: TestOrigin;
  let downPort: number;

  const getJob = async (id: string) => (await harness.app.inject(`/v1/jobs/${id}`)).json();
  /** Polls GET /v1/jobs/:id until `done` holds. */
  const pollJob = (id: string, done: (view: Record<string, unknown>) => boolean) =>
    pollUntil(() => getJob(id), done, { timeoutMs: 20_000 });
  const submitUrls = (body: object) =>
    harness.app.inject({ method: 'POST', url: '/v1/jobs', payload: body });

  beforeAll(async () => {
    flaky = await WebhookReceiver.start({ secret, failFirst: 2 });
    steady = await WebhookReceiver.start({ secret });
    origin = await TestOrigin.start({
      '/cat.png': filePart(join(IMAGES_DIR, 'cat.png')).bytes,
      '/notes.txt': Buffer.from('plain text, not an image'),
    });
    downPort = await freePort();
    harness = await startApi({
      WEBHOOK_SECRET: secret,
      WEBHOOK_ATTEMPTS: String(ATTEMPTS),
      WEBHOOK_BACKOFF_MS: '100',
      OUTBOUND_TIMEOUT_MS: '1500',
      OUTBOUND_ALLOWED_HOSTS: [flaky.port, steady.port, origin.port, downPort]
        .map((port) => `127.0.0.1:${port}`)
        .join(','),
    });
  });

  afterAll(async () => {
    await harness.close();
    await Promise.all([flaky.close(), steady.close(), origin.close()]);
  });

  it('delivers a signed view through 2 failures, under one webhook-id', async () => {
    const bytes = await cachedImage(harness, 1);
    const res = await harness.post(`/v1/jobs?callbackUrl=${encodeURIComponent(flaky.url())}`, [
      { filename: 'blue.png', bytes },
    ]);
    expect(res.statusCode).toBe(202);
    const id = res.json().jobs[0].id as string;
    const deliveries = await flaky.until((d) => d.length === 3);
    expect(deliveries.map((d) => [d.id, d.verified, d.answered])).toEqual([
      [id, true, 503],
      [id, true, 503],
      [id, true, 204],
    ]);
    const view = await pollJob(
      id,
      (v) => (v.webhook as { status?: string })?.status === 'delivered',
    );
    const { webhook, ...jobView } = view;
    expect(deliveries[2]?.body).toEqual(jobView);
    expect(jobView).toMatchObject({ id, status: 'completed', cached: true, filename: 'blue.png' });
    expect(webhook).toMatchObject({ id, status: 'delivered', attempts: 3 });
    const metrics = (await harness.app.inject('/metrics')).body;
    expect(metrics).toMatch(
      new RegExp(`${MetricName.WebhookDeliveries}{result="retrying"[^}]*} 2`),
    );
    expect(metrics).toMatch(
      new RegExp(`${MetricName.WebhookDeliveries}{result="delivered"[^}]*} 1`),
    );
  });

  it('takes callbackUrl as a form field of a predict, and sends each delivery id once', async () => {
    const ids: string[] = [];
    for (let n = 2; n < 6; n++) {
      const bytes = await cachedImage(harness, n);
      const res = await harness.post('/v1/predict', [
        { filename: `p${n}.png`, bytes },
        { name: 'callbackUrl', value: steady.url() },
      ]);
      expect(res.statusCode).toBe(200);
      ids.push(res.json().id);
    }
    const deliveries = await steady.until((d) => d.length >= ids.length);
    // A moment more: a duplicate would come now.
    await new Promise((r) => setTimeout(r, 500));
    expect(steady.deliveries.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(deliveries.every((d) => d.verified && d.body.status === 'completed')).toBe(true);
  });

  it('dead-letters a delivery to a receiver down for every attempt; an operator retry delivers', async () => {
    const bytes = await cachedImage(harness, 6);
    const callbackUrl = `http://127.0.0.1:${downPort}/hook`;
    const res = await harness.post(`/v1/jobs?callbackUrl=${encodeURIComponent(callbackUrl)}`, [
      { filename: 'down.png', bytes },
    ]);
    const id = res.json().jobs[0].id as string;
    const dead = await pollJob(
      id,
      (v) => (v.webhook as { status?: string })?.status === 'dead_lettered',
    );
    expect(dead.webhook).toMatchObject({ id, status: 'dead_lettered', attempts: ATTEMPTS });
    expect((dead.webhook as { lastError: string }).lastError).toMatch(
      /^FETCH_FAILED: .*ECONNREFUSED/,
    );
    expect((await harness.app.inject('/metrics')).body).toMatch(
      new RegExp(`${MetricName.WebhookDeliveries}{result="dead_lettered"[^}]*} 1`),
    );

    const receiver = await WebhookReceiver.start({ secret, port: downPort });
    try {
      const retry = await harness.app.inject({
        method: 'POST',
        url: `/v1/jobs/${id}/webhook/retry`,
      });
      expect(retry.statusCode).toBe(202);
      const [delivery] = await receiver.until((d) => d.length === 1);
      expect(delivery).toMatchObject({ id, verified: true, answered: 204 });
      expect(delivery?.body).toMatchObject({ id, status: 'completed' });
      await pollJob(id, (v) => (v.webhook as { status?: string })?.status === 'delivered');
      const again = await harness.app.inject({
        method: 'POST',
        url: `/v1/jobs/${id}/webhook/retry`,
      });
      expect(again.statusCode).toBe(409);
      expect(again.json().error.code).toBe('WEBHOOK_NOT_DEAD_LETTERED');
    } finally {
      await receiver.close();
    }
  });

  it('dead-letters at once a delivery to a refused address', async () => {
    const bytes = await cachedImage(harness, 7);
    const res = await harness.post(
      `/v1/jobs?callbackUrl=${encodeURIComponent('http://169.254.169.254/hook')}`,
      [{ filename: 'meta.png', bytes }],
    );
    const id = res.json().jobs[0].id as string;
    const view = await pollJob(
      id,
      (v) => (v.webhook as { status?: string })?.status === 'dead_lettered',
    );
    expect(view.webhook).toMatchObject({ attempts: 1 });
    expect((view.webhook as { lastError: string }).lastError).toMatch(/^FETCH_REFUSED/);
  });

  it('refuses a callbackUrl that is not http(s), and retrying a job without a webhook', async () => {
    const bytes = await cachedImage(harness, 8);
    const bad = await harness.post('/v1/jobs?callbackUrl=ftp%3A%2F%2Fexample.com%2Fx', [
      { filename: 'x.png', bytes },
    ]);
    expect(bad.statusCode).toBe(400);
    const badField = await harness.post(
      `/v1/jobs?callbackUrl=${encodeURIComponent(steady.url())}`,
      [
        { filename: 'x.png', bytes },
        { name: 'callbackUrl', value: '113891200851' },
      ],
    );
    expect(badField.statusCode).toBe(400);
    const unknown = await harness.app.inject({
      method: 'POST',
      url: '/v1/jobs/nope/webhook/retry',
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('JOB_NOT_FOUND');
    const plain = (await harness.post('/v1/jobs', [{ filename: 'x.png', bytes }])).json().jobs[0];
    const none = await harness.app.inject({
      method: 'POST',
      url: `/v1/jobs/${plain.id}/webhook/retry`,
    });
    expect(none.statusCode).toBe(409);
    expect(none.json().error.code).toBe('NO_WEBHOOK');
  });

  it('queues an image by URL under the id it answered, and calls back once it has finished', async () => {
    const res = await submitUrls({ urls: [origin.url('/cat.png')] });
    expect(res.statusCode).toBe(202);
    const [job] = res.json().jobs;
    expect(job).toMatchObject({ status: 'queued', statusUrl: `/v1/jobs/${job.id}` });
    // No worker here: the job waits in the classify queue, as an upload would.
    // While an image downloads, its job shows as queued under the URL's name.
    const slow = (await submitUrls({ urls: [origin.url('/slow')] })).json().jobs[0].id;
    expect(await getJob(slow)).toMatchObject({ id: slow, status: 'queued', filename: 'slow' });
    const thumbnail = await harness.app.inject(`/v1/jobs/${slow}/thumbnail`);
    expect(thumbnail.statusCode).toBe(409);
    expect(thumbnail.json().error.code).toBe('IMAGE_NOT_FETCHED');
    const queued = await pollUntil(
      () => harness.queue.getJob(job.id),
      (j) => j !== undefined,
    );
    expect(queued?.data.upload).toMatchObject({ filename: 'cat.png', format: 'png', width: 512 });
    expect((await getJob(job.id)).status).toBe('queued');

    const bytes = await cachedImage(harness, 9);
    const cachedOrigin = await TestOrigin.start({ '/seeded.png': bytes });
    try {
      // Only this origin's port is allowed: a second API would be needed to widen the list, so
      // the seeded image is served through the allowed origin's redirect instead.
      const viaRedirect = origin.redirect(cachedOrigin.url('/seeded.png'));
      const refused = await submitUrls({ urls: [viaRedirect], callbackUrl: steady.url() });
      const refusedId = refused.json().jobs[0].id;
      const failed = await pollJob(refusedId, (v) => v.status === 'failed');
      expect(failed.error).toMatch(/^FETCH_REFUSED: /);
      const delivered = await steady.until((d) => d.some((x) => x.id === refusedId));
      expect(delivered.find((x) => x.id === refusedId)?.body).toMatchObject({
        status: 'failed',
        error: failed.error,
      });
      expect(cachedOrigin.connections).toBe(0);
    } finally {
      await cachedOrigin.close();
    }
  });

  it.each([
    [
      'a redirect to the metadata service',
      () => origin.redirect('http://169.254.169.254/latest/'),
      'FETCH_REFUSED',
    ],
    [
      'a redirect to a private address',
      () => origin.redirect('http://192.168.10.20/x.png'),
      'FETCH_REFUSED',
    ],
    [
      'a redirect to 127.0.0.1',
      () => origin.redirect(`http://127.0.0.1:${downPort + 0}1/x.png`),
      'FETCH_REFUSED',
    ],
    [
      'a name that resolves to loopback',
      () => origin.url('/cat.png', 'localhost'),
      'FETCH_REFUSED',
    ],
    ['a slowloris', () => origin.url('/slow'), 'FETCH_TIMEOUT'],
    ['an oversized body', () => origin.url('/huge-chunked'), 'FETCH_TOO_LARGE'],
    ['a 404', () => origin.url('/missing.png'), 'FETCH_FAILED'],
    ['text, not an image', () => origin.url('/notes.txt'), 'UNSUPPORTED_FORMAT'],
  ])('fails a job of %s with its code', async (_name, url, code) => {
    const res = await submitUrls({ urls: [url()] });
    expect(res.statusCode).toBe(202);
    const id = res.json().jobs[0].id;
    const view = await pollJob(id, (v) => v.status === 'failed');
    expect(view.error).toMatch(new RegExp(`^${code}: `));
    expect(view).toMatchObject({
      id,
      filename: expect.any(String),
      finishedAt: expect.any(String),
    });
  });

  it('documents callbackUrl, the JSON body of URLs, the delivery and its retry in OpenAPI', async () => {
    const doc = (await harness.app.inject('/docs/json')).json();
    const jobs = doc.paths['/v1/jobs'].post;
    const callback = { type: 'string', format: 'uri', pattern: '^https?://[^/?#\\s]+' };
    expect(jobs.requestBody.content['application/json'].schema.properties.urls).toMatchObject({
      type: 'array',
      items: callback,
    });
    for (const path of ['/v1/jobs', '/v1/predict']) {
      const op = doc.paths[path].post;
      expect(op.parameters).toContainEqual(
        expect.objectContaining({
          in: 'query',
          name: 'callbackUrl',
          schema: expect.objectContaining(callback),
        }),
      );
      expect(
        op.requestBody.content['multipart/form-data'].schema.properties.callbackUrl,
      ).toMatchObject(callback);
    }
    expect(doc.paths['/v1/jobs/{id}/webhook/retry'].post.responses).toHaveProperty('409');
    expect(
      doc.paths['/v1/jobs/{id}'].get.responses['200'].content['application/json'].schema.properties
        .webhook.properties.status.enum,
    ).toEqual(['pending', 'delivered', 'dead_lettered']);
  });

  it.each([
    ['no URL', { urls: [] }],
    ['a URL that is not http(s)', { urls: ['ftp://example.com/a.png'] }],
    [
      'too many URLs',
      { urls: Array.from({ length: 20 }, (_, i) => `https://example.com/${i}.png`) },
    ],
    ['a callbackUrl that is not a URL', { urls: ['https://example.com/a.png'], callbackUrl: 'x' }],
    [
      'a callbackUrl without a host',
      { urls: ['https://example.com/a.png'], callbackUrl: 'http://' },
    ],
  ])('answers 400 to %s', async (_name, body) => {
    const res = await submitUrls(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });
});

describe('images by URL past MAX_QUEUE_DEPTH', () => {
  let harness: ApiHarness;
  beforeAll(async () => {
    harness = await startApi({ MAX_QUEUE_DEPTH: '2' });
  });
  afterAll(() => harness.close());

  it('refuses URLs beyond the waiting bound with 503 QUEUE_FULL', async () => {
    // Nothing is fetched: the fetch consumer is paused, so the URLs stay waiting.
    await harness.app.urlJobs.queue.pause();
    const urls = ['https://example.com/a.png', 'https://example.com/b.png'];
    const first = await harness.app.inject({ method: 'POST', url: '/v1/jobs', payload: { urls } });
    expect(first.statusCode).toBe(202);
    const more = await harness.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: { urls: ['https://example.com/c.png'] },
    });
    expect(more.statusCode).toBe(503);
    expect(more.json().error.code).toBe('QUEUE_FULL');
    expect(more.headers['retry-after']).toBe('2');
  });
});

describe('webhooks without a signing secret', () => {
  let harness: ApiHarness;
  beforeAll(async () => {
    harness = await startApi();
  });
  afterAll(() => harness.close());

  it('refuses a callbackUrl (nothing could sign its webhook)', async () => {
    const res = await harness.post('/v1/jobs?callbackUrl=https%3A%2F%2Fexample.com%2Fhook', [
      filePart(join(IMAGES_DIR, 'cat.png')),
    ]);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('WEBHOOKS_NOT_CONFIGURED');
  });
});
