import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EXPIRED_REASON, PredictionRepository } from '@imagerec/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FilePart, postParts } from '../support/multipart.js';
import { API_URL, NGINX_URL, WORKERS } from '../support/stack.js';
import { IMAGES_DIR, stackConfig } from '../support/test-config.js';
import { uniqueImage } from '../support/unique-image.js';

const run = promisify(execFile);

interface JobView {
  id: string;
  status: string;
  filename: string;
  predictions?: { index: number; label: string; score: number }[];
  cached?: boolean;
  timings: { batchSize: number; totalMs: number };
  finishedAt?: string;
  error?: string;
}
interface JobRef {
  id: string;
  status: string;
  statusUrl: string;
}

const image = (name: string, filename = name): FilePart => ({
  filename,
  bytes: readFileSync(join(IMAGES_DIR, name)),
});

const post = (path: string, parts: FilePart[]) => postParts(API_URL, path, parts);

const getJob = async (id: string, query = '') =>
  (await (await fetch(`${API_URL}/v1/jobs/${id}${query}`)).json()) as JobView;

async function untilFinished(id: string): Promise<JobView> {
  for (let i = 0; i < 20; i++) {
    const view = await getJob(id, '?waitMs=10000');
    if (view.status === 'completed' || view.status === 'failed') return view;
  }
  throw new Error(`job ${id} did not finish`);
}

describe('the running stack: API, queue, batching workers, MongoDB', () => {
  let repository: PredictionRepository;

  beforeAll(async () => {
    repository = await PredictionRepository.connect(stackConfig());
  });
  afterAll(() => repository.close());

  it('upload, poll, completed: cat.png is an Egyptian cat', async () => {
    const res = await post('/v1/jobs', [image('cat.png', `cat-${randomUUID()}.png`)]);
    expect(res.status).toBe(202);
    const [job] = res.body.jobs as JobRef[];
    let view: JobView | undefined;
    for (let i = 0; i < 100 && view?.status !== 'completed'; i++) {
      view = (await (await fetch(`${API_URL}${job?.statusUrl}`)).json()) as JobView;
      if (view.status !== 'completed') await new Promise((r) => setTimeout(r, 100));
    }
    expect(view?.status).toBe('completed');
    expect(view?.predictions?.[0]).toMatchObject({ index: 286, label: 'Egyptian cat' });
  });

  it('long-poll answers within 1 s of completion', async () => {
    const res = await post('/v1/jobs', [await uniqueImage('noise-long-poll.png')]);
    const [job] = res.body.jobs as JobRef[];
    const view = await getJob(job?.id ?? '', '?waitMs=20000');
    const answeredAt = Date.now();
    expect(view.status).toBe('completed');
    expect(answeredAt - Date.parse(view.finishedAt ?? '')).toBeLessThan(1000);
  });

  it('sync predict answers 200 with the result', async () => {
    const res = await post('/v1/predict?topK=3', [image('parrot.jpg')]);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('completed');
    const predictions = res.body.predictions as JobView['predictions'];
    expect(predictions).toHaveLength(3);
    expect(predictions?.map((p) => p.index)).toContain(89);
  });

  it('sync predict with timeoutMs=1 answers 202; its job is skipped as expired, not run', async () => {
    // The deadline passes before the job is even queued, so no worker takes it in time.
    const res = await post('/v1/predict?timeoutMs=1', [await uniqueImage('noise-timeout.png')]);
    expect(res.status).toBe(202);
    const view = await untilFinished(res.body.id as string);
    expect(view).toMatchObject({ status: 'failed', error: EXPIRED_REASON });
    expect(view.predictions ?? []).toEqual([]);
    expect(await repository.findByJobId(res.body.id as string)).toMatchObject({
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
    const res = await post('/v1/jobs', parts);
    expect(res.status).toBe(202);
    const jobs = res.body.jobs as JobRef[];
    expect(jobs).toHaveLength(20);
    const views = await Promise.all(jobs.map((j) => untilFinished(j.id)));
    expect(views.map((v) => v.status)).toEqual(Array(20).fill('completed'));
    for (const job of jobs)
      expect((await repository.findByJobId(job.id))?.status).toBe('completed');
    const page = await (await fetch(`${API_URL}/?limit=100`)).text();
    for (const part of parts) expect(page).toContain(part.filename);
  });

  it(`${WORKERS} workers share a burst of 64 jobs, each processing some, in batches`, async () => {
    const parts = await Promise.all(
      Array.from({ length: 64 }, (_, i) => uniqueImage(`burst-${i}.png`)),
    );
    const jobs: JobRef[] = [];
    for (let i = 0; i < parts.length; i += 16) {
      const res = await post('/v1/jobs', parts.slice(i, i + 16));
      jobs.push(...(res.body.jobs as JobRef[]));
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
    const first = await post('/v1/predict', [part]);
    const second = await post('/v1/predict', [part]);
    expect(first.body).toMatchObject({ status: 'completed', cached: false });
    expect(second.body).toMatchObject({ status: 'completed', cached: true });
    expect(second.body.predictions).toEqual(first.body.predictions);
  });

  it('refuses bad input with its status, and the next good upload still works', async () => {
    expect(
      (await post('/v1/jobs', [{ filename: 'x.png', bytes: Buffer.from('not an image') }])).status,
    ).toBe(415);
    expect(
      (
        await post('/v1/jobs', [
          { filename: 'x.png', bytes: image('cat.png').bytes.subarray(0, 5000) },
        ])
      ).status,
    ).toBe(422);
    const bad = await fetch(`${API_URL}/v1/jobs`, { method: 'POST', body: 'no form' });
    expect(bad.status).toBe(400);
    const good = await post('/v1/predict', [image('grace_hopper.png')]);
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
