import { join } from 'node:path';
import { MetricName } from '@imagerec/shared';
import { filePart } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import { testConfig } from '@imagerec/test-support/test-config';
import {
  freePort,
  newWebhookSecret,
  WebhookReceiver,
} from '@imagerec/test-support/webhook-receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useApi } from './support/api-harness.js';
import { cachedImage, jobViews, outboundEnv } from './support/outbound-jobs.js';

const ATTEMPTS = 4;
const secret = newWebhookSecret();

/**
 * Webhooks on a built API with real Redis and MongoDB and no worker: the jobs here are answered
 * from the result cache, which is enough to finish them. Images by URL: images-by-url.test.ts.
 */
describe('webhooks', () => {
  let flaky: WebhookReceiver;
  let steady: WebhookReceiver;
  /** Fails the first 2 deliveries of a batch sent to it. */
  let halfDown: WebhookReceiver;
  let downPort: number;

  beforeAll(async () => {
    flaky = await WebhookReceiver.start({ secret, failFirst: 2 });
    steady = await WebhookReceiver.start({ secret });
    halfDown = await WebhookReceiver.start({ secret, failFirst: 2 });
    downPort = await freePort();
  });

  afterAll(async () => {
    await Promise.all([flaky.close(), steady.close(), halfDown.close()]);
  });

  const harness = useApi(() =>
    testConfig({
      ...outboundEnv(secret, [flaky.port, steady.port, halfDown.port, downPort]),
      WEBHOOK_ATTEMPTS: String(ATTEMPTS),
      WEBHOOK_BACKOFF_MS: '100',
    }),
  );
  const { pollJob } = jobViews(harness);

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
    // Delivered at the first attempt, without a job of its own: still shown, and not retried.
    const id = ids[0] as string;
    const view = await pollJob(
      id,
      (v) => (v.webhook as { status?: string })?.status === 'delivered',
    );
    expect(view.webhook).toEqual({
      id,
      status: 'delivered',
      attempts: 1,
      deliveredAt: expect.any(String),
    });
    const retry = await harness.app.inject({ method: 'POST', url: `/v1/jobs/${id}/webhook/retry` });
    expect(retry.statusCode).toBe(409);
    expect(retry.json().error.code).toBe('WEBHOOK_NOT_DEAD_LETTERED');
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

  it("makes a batch's first attempts together; those that fail continue on their own", async () => {
    const files = await Promise.all(
      [10, 11, 12].map(async (n) => ({
        filename: `b${n}.png`,
        bytes: await cachedImage(harness, n),
      })),
    );
    const res = await harness.post(
      `/v1/jobs?callbackUrl=${encodeURIComponent(halfDown.url())}`,
      files,
    );
    const ids = (res.json().jobs as { id: string }[]).map((j) => j.id);
    // All three at once (two answered 503), then the two again, each on its own.
    const deliveries = await halfDown.until((d) => d.length === 5);
    expect(
      deliveries
        .slice(0, 3)
        .map((d) => d.id)
        .sort(),
    ).toEqual([...ids].sort());
    expect(deliveries.map((d) => d.answered)).toEqual([503, 503, 204, 204, 204]);
    const retried = deliveries.slice(0, 2).map((d) => d.id);
    expect(
      deliveries
        .slice(3)
        .map((d) => d.id)
        .sort(),
    ).toEqual([...retried].sort());
    for (const id of ids) {
      const view = await pollJob(
        id,
        (v) => (v.webhook as { status?: string })?.status === 'delivered',
      );
      expect(view.webhook).toMatchObject({ id, attempts: retried.includes(id) ? 2 : 1 });
    }
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
});

describe('webhooks without a signing secret', () => {
  const harness = useApi();

  it('refuses a callbackUrl (nothing could sign its webhook)', async () => {
    const res = await harness.post('/v1/jobs?callbackUrl=https%3A%2F%2Fexample.com%2Fhook', [
      filePart(join(IMAGES_DIR, 'cat.png')),
    ]);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('WEBHOOKS_NOT_CONFIGURED');
  });
});
