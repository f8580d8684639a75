import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { postParts } from '../support/multipart.js';
import { TestOrigin } from '../support/outbound-origin.js';
import { pollUntil } from '../support/poll.js';
import { IMAGES_DIR } from '../support/shared-files.js';
import { NGINX_URL, OUTBOUND_PORT, WEBHOOK_SECRET } from '../support/stack.js';
import { uniqueImage } from '../support/unique-image.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

interface JobView {
  id: string;
  status: string;
  error?: string;
  predictions?: { label: string }[];
  webhook?: { id: string; status: string; attempts: number; lastError?: string };
}

const RECEIVER = `http://127.0.0.1:${OUTBOUND_PORT}/hook`;
const ORIGIN_PORT = OUTBOUND_PORT + 1;

const getJob = async (id: string) =>
  (await (await fetch(`${NGINX_URL}/v1/jobs/${id}`)).json()) as JobView;

const pollJob = (id: string, done: (view: JobView) => boolean) =>
  pollUntil(() => getJob(id), done, { timeoutMs: 60_000, everyMs: 200 });

async function upload(callbackUrl = RECEIVER): Promise<string> {
  const res = await postParts(
    NGINX_URL,
    `/v1/jobs?callbackUrl=${encodeURIComponent(callbackUrl)}`,
    [await uniqueImage('noise.png')],
  );
  expect(res.status).toBe(202);
  return (res.body.jobs as { id: string }[])[0]?.id ?? '';
}

const postUrls = (body: object) =>
  fetch(`${NGINX_URL}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/**
 * Through nginx on the running stack, inference by the real workers. The stack may reach
 * only this file's receiver and origin (OUTBOUND_ALLOWED_HOSTS, OUTBOUND_ALLOW_PUBLIC=false).
 */
describe('webhooks and images by URL, end to end', () => {
  const open: { close(): Promise<void> }[] = [];
  const started = <T extends { close(): Promise<void> }>(server: T) => {
    open.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('calls back a classified upload, signed, through 2 failed deliveries under one id', async () => {
    const receiver = started(
      await WebhookReceiver.start({ secret: WEBHOOK_SECRET, failFirst: 2, port: OUTBOUND_PORT }),
    );
    const id = await upload();
    const deliveries = await receiver.until((d) => d.length === 3, 60_000);
    expect(deliveries.map((d) => [d.id, d.verified, d.answered])).toEqual([
      [id, true, 503],
      [id, true, 503],
      [id, true, 204],
    ]);
    expect(deliveries[2]?.body).toMatchObject({ id, status: 'completed' });
    expect(deliveries[2]?.body.predictions).toHaveLength(5);
    const view = await pollJob(id, (v) => v.webhook?.status === 'delivered');
    expect(view.webhook).toMatchObject({ id, attempts: 3 });
  });

  it('delivers each of 24 jobs once, with no delivery id twice', async () => {
    const receiver = started(
      await WebhookReceiver.start({ secret: WEBHOOK_SECRET, port: OUTBOUND_PORT, delayMs: 50 }),
    );
    const ids = await Promise.all(Array.from({ length: 24 }, () => upload()));
    await receiver.until((d) => d.length >= ids.length, 90_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.deliveries.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(receiver.deliveries.every((d) => d.verified && d.answered === 204)).toBe(true);
  });

  it('dead-letters a delivery while the receiver is down; an operator retry then delivers', async () => {
    const id = await upload();
    const dead = await pollJob(id, (v) => v.webhook?.status === 'dead_lettered');
    expect(dead.webhook).toMatchObject({ id, attempts: 4 });
    expect(dead.webhook?.lastError).toMatch(/^FETCH_FAILED: .*ECONNREFUSED/);

    const receiver = started(
      await WebhookReceiver.start({ secret: WEBHOOK_SECRET, port: OUTBOUND_PORT }),
    );
    const retry = await fetch(`${NGINX_URL}/v1/jobs/${id}/webhook/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    const [delivery] = await receiver.until((d) => d.length === 1);
    expect(delivery).toMatchObject({ id, verified: true, answered: 204 });
    await pollJob(id, (v) => v.webhook?.status === 'delivered');
  });

  it('classifies an image by URL and calls back with its view', async () => {
    const receiver = started(
      await WebhookReceiver.start({ secret: WEBHOOK_SECRET, port: OUTBOUND_PORT }),
    );
    const origin = started(
      await TestOrigin.start(
        { '/cat.png': readFileSync(join(IMAGES_DIR, 'cat.png')) },
        ORIGIN_PORT,
      ),
    );
    const res = await postUrls({ urls: [origin.url('/cat.png')], callbackUrl: RECEIVER });
    expect(res.status).toBe(202);
    const [job] = ((await res.json()) as { jobs: { id: string; status: string }[] }).jobs;
    expect(job?.status).toBe('queued');
    const view = await pollJob(job?.id ?? '', (v) => v.status === 'completed');
    expect(view.predictions?.[0]?.label).toBe('Egyptian cat');
    const [delivery] = await receiver.until((d) => d.length === 1);
    expect(delivery?.body).toMatchObject({ id: job?.id, status: 'completed', filename: 'cat.png' });
  });

  it('fails URL jobs that would reach refused addresses, hang, or overflow, with their codes', async () => {
    const origin = started(await TestOrigin.start({}, ORIGIN_PORT));
    const before = origin.connections;
    const cases: [string, string][] = [
      [origin.redirect('http://169.254.169.254/latest/meta-data/'), 'FETCH_REFUSED'],
      [origin.redirect('http://10.1.2.3/x.png'), 'FETCH_REFUSED'],
      [origin.redirect(`http://127.0.0.1:${OUTBOUND_PORT + 2}/x.png`), 'FETCH_REFUSED'],
      [origin.url('/x.png', 'localhost'), 'FETCH_REFUSED'],
      [origin.url('/slow'), 'FETCH_TIMEOUT'],
      [origin.url('/huge-chunked'), 'FETCH_TOO_LARGE'],
    ];
    const res = await postUrls({ urls: cases.map(([url]) => url) });
    expect(res.status).toBe(202);
    const { jobs } = (await res.json()) as { jobs: { id: string }[] };
    const views = await Promise.all(jobs.map((j) => pollJob(j.id, (v) => v.status === 'failed')));
    expect(views.map((v) => v.error?.split(':')[0])).toEqual(cases.map(([, code]) => code));
    // The three redirects and the two slow or large bodies reached the origin; localhost did not.
    expect(origin.connections - before).toBeLessThanOrEqual(5);
  });
});
