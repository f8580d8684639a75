import { join } from 'node:path';
import { filePart } from '@imagerec/test-support/multipart';
import { TestOrigin } from '@imagerec/test-support/outbound-origin';
import { pollUntil } from '@imagerec/test-support/poll';
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

const secret = newWebhookSecret();

/**
 * Images by URL on a built API with real Redis and MongoDB and no worker: the jobs here are
 * answered from the result cache (or stay queued), which is enough to finish them.
 */
describe('images by URL', () => {
  let steady: WebhookReceiver;
  let origin: TestOrigin;
  let downPort: number;

  beforeAll(async () => {
    steady = await WebhookReceiver.start({ secret });
    origin = await TestOrigin.start({
      '/cat.png': filePart(join(IMAGES_DIR, 'cat.png')).bytes,
      '/notes.txt': Buffer.from('plain text, not an image'),
    });
    downPort = await freePort();
  });

  afterAll(async () => {
    await Promise.all([steady.close(), origin.close()]);
  });

  const harness = useApi(() =>
    testConfig(outboundEnv(secret, [steady.port, origin.port, downPort])),
  );
  const { getJob, pollJob } = jobViews(harness);
  const submitUrls = (body: object) =>
    harness.app.inject({ method: 'POST', url: '/v1/jobs', payload: body });

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
  const harness = useApi({ MAX_QUEUE_DEPTH: '2' });

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
