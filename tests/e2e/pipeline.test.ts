import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImagerecClient, type JobRef, type JobView, type PredictAnswer } from '@imagerec/client';
import { EXPIRED_REASON, PredictionRepository } from '@imagerec/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FilePart } from '../support/multipart.js';
import { IMAGES_DIR } from '../support/shared-files.js';
import { API_URL, NGINX_URL, WORKERS } from '../support/stack.js';
import { stackConfig } from '../support/test-config.js';
import { uniqueImage } from '../support/unique-image.js';

const run = promisify(execFile);
const client = new ImagerecClient({ baseUrl: API_URL });

const image = (name: string, filename = name): FilePart => ({
  filename,
  bytes: readFileSync(join(IMAGES_DIR, name)),
});

const predictionsOf = (answer: PredictAnswer) =>
  answer.status === 200 ? answer.body.predictions : undefined;

async function untilFinished(id: string): Promise<JobView> {
  const view = await client.wait(id, { timeoutMs: 200_000 });
  if (view.status === 'completed' || view.status === 'failed') return view;
  throw new Error(`job ${id} did not finish`);
}

describe('the running stack: API, queue, batching workers, MongoDB', () => {
  let repository: PredictionRepository;

  beforeAll(async () => {
    repository = await PredictionRepository.connect(stackConfig());
  });
  afterAll(() => repository.close());

  it('upload, poll, completed: cat.png is an Egyptian cat', async () => {
    const res = await client.submit([image('cat.png', `cat-${randomUUID()}.png`)]);
    expect(res.status).toBe(202);
    const [job] = res.body.jobs;
    expect(job?.statusUrl).toBe(`/v1/jobs/${job?.id}`);
    let view: JobView | undefined;
    for (let i = 0; i < 100 && view?.status !== 'completed'; i++) {
      view = await client.job(job?.id ?? '');
      if (view.status !== 'completed') await new Promise((r) => setTimeout(r, 100));
    }
    expect(view?.status).toBe('completed');
    expect(view?.predictions?.[0]).toMatchObject({ index: 286, label: 'Egyptian cat' });
  });

  it('long-poll answers within 1 s of completion', async () => {
    const res = await client.submit([await uniqueImage('noise-long-poll.png')]);
    const [job] = res.body.jobs;
    const view = await client.wait(job?.id ?? '', { timeoutMs: 20_000 });
    const answeredAt = Date.now();
    expect(view.status).toBe('completed');
    expect(answeredAt - Date.parse(view.finishedAt ?? '')).toBeLessThan(1000);
  });

  it('sync predict answers 200 with the result', async () => {
    const res = await client.predict(image('parrot.jpg'), { topK: 3 });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('completed');
    const predictions = predictionsOf(res);
    expect(predictions).toHaveLength(3);
    expect(predictions?.map((p) => p.index)).toContain(89);
  });

  it('sync predict with timeoutMs=1 answers 202; its job is skipped as expired, not run', async () => {
    // The deadline passes before the job is even queued, so no worker takes it in time.
    const res = await client.predict(await uniqueImage('noise-timeout.png'), { timeoutMs: 1 });
    expect(res.status).toBe(202);
    const view = await untilFinished(res.body.id);
    expect(view).toMatchObject({ status: 'failed', error: EXPIRED_REASON });
    expect(view.predictions ?? []).toEqual([]);
    expect(await repository.findByJobId(res.body.id)).toMatchObject({
      status: 'failed',
      error: EXPIRED_REASON,
    });
  });

  it('20 images in one call all complete, in MongoDB and on the history page', async () => {
    const run = randomUUID().slice(0, 8);
    const names = [
      'cat.png',
      'cat.bmp',
      'grace_hopper.png',
      'parrot.jpg',
      'cat_720p.jpg',
      'face.jpg',
    ];
    const parts = Array.from({ length: 20 }, (_, i) => {
      const name = names[i % names.length] as string;
      return image(name, `batch-${run}-${i}-${name}`);
    });
    const res = await client.submit(parts);
    expect(res.status).toBe(202);
    const { jobs } = res.body;
    expect(jobs).toHaveLength(20);
    const views = await Promise.all(jobs.map((j) => untilFinished(j.id)));
    expect(views.map((v) => v.status)).toEqual(Array(20).fill('completed'));
    // Parts with the same bytes that no earlier result answered joined one job: its record
    // (and page entry) carries the filename of the part that queued it.
    const filenames = new Set(parts.map((p) => p.filename));
    const page = await (await fetch(`${API_URL}/?limit=100`)).text();
    for (const id of new Set(jobs.map((j) => j.id))) {
      const record = await repository.findByJobId(id);
      expect(record?.status).toBe('completed');
      expect(filenames.has(record?.filename ?? '')).toBe(true);
      expect(page).toContain(record?.filename);
    }
  });

  it(`${WORKERS} workers share a burst of 64 jobs, each processing some, in batches`, async () => {
    const parts = await Promise.all(
      Array.from({ length: 64 }, (_, i) => uniqueImage(`burst-${i}.png`)),
    );
    const jobs: JobRef[] = [];
    for (let i = 0; i < parts.length; i += 16) {
      const res = await client.submit(parts.slice(i, i + 16));
      jobs.push(...res.body.jobs);
    }
    const views = await Promise.all(jobs.map((j) => untilFinished(j.id)));
    expect(views.every((v) => v.status === 'completed')).toBe(true);
    const records = await Promise.all(jobs.map((j) => repository.findByJobId(j.id)));
    const workers = new Set(records.map((r) => r?.processedBy));
    expect(workers.size).toBe(WORKERS);
    expect(Math.max(...views.map((v) => v.timings.batchSize))).toBeGreaterThan(1);
  });

  it('answers the same image twice: the second from the cache', async () => {
    const part = await uniqueImage('twice.png');
    const first = await client.predict(part);
    const second = await client.predict(part);
    expect(first.body).toMatchObject({ status: 'completed', cached: false });
    expect(second.body).toMatchObject({ status: 'completed', cached: true });
    expect(predictionsOf(second)).toEqual(predictionsOf(first));
  });

  it('an Idempotency-Key through nginx: a retry names the same jobs, another request under it is refused', async () => {
    const viaNginx = new ImagerecClient({ baseUrl: NGINX_URL });
    const idempotencyKey = `e2e-${randomUUID()}`;
    const parts = [await uniqueImage('retry-a.png'), await uniqueImage('retry-b.png')];
    // nginx spreads the tries over both API processes: the key lives in Redis, shared.
    const tries = [];
    for (let i = 0; i < 4; i++) tries.push(await viaNginx.submit(parts, { idempotencyKey }));
    expect(tries.map((t) => t.replayed)).toEqual([false, true, true, true]);
    for (const t of tries) expect(t.body).toEqual(tries[0]?.body);
    await expect(viaNginx.submit(parts.slice(0, 1), { idempotencyKey })).rejects.toMatchObject({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    const views = await Promise.all(tries[0]?.body.jobs.map((j) => untilFinished(j.id)) ?? []);
    expect(views.map((v) => v.status)).toEqual(['completed', 'completed']);
  });

  it('refuses bad input with its status, and the next good upload still works', async () => {
    await expect(
      client.submit([{ filename: 'x.png', bytes: Buffer.from('not an image') }]),
    ).rejects.toMatchObject({ status: 415 });
    await expect(
      client.submit([{ filename: 'x.png', bytes: image('cat.png').bytes.subarray(0, 5000) }]),
    ).rejects.toMatchObject({ status: 422 });
    const bad = await fetch(`${API_URL}/v1/jobs`, { method: 'POST', body: 'no form' });
    expect(bad.status).toBe(400);
    const good = await client.predict(image('grace_hopper.png'));
    expect(good.status).toBe(200);
  });

  it.each([
    ['an API process', API_URL],
    ['nginx', NGINX_URL],
  ])("the original service's demo commands work through %s", async (_via, base) => {
    const { stdout } = await run('curl', [
      '-sS',
      '-X',
      'POST',
      '-F',
      `image=@${join(IMAGES_DIR, 'cat.png')}`,
      `${base}/predict`,
    ]);
    const answer = JSON.parse(stdout) as JobView;
    expect(answer.status).toBe('completed');
    expect(answer.predictions?.[0]?.label).toBe('Egyptian cat');
    const page = await run('curl', ['-sS', `${base}/`]);
    expect(page.stdout).toContain('Egyptian cat');
  });
});
