import {
  type AppConfig,
  ClassifyQueue,
  type ClassifyResult,
  createRedis,
  JobName,
  PredictionRepository,
  PredictionStatus,
} from '@imagerec/shared';
import { imageJob } from '@imagerec/test-support/image-job';
import { testConfig } from '@imagerec/test-support/test-config';
import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createWorkerService,
  type WorkerService,
  type WorkerServiceOptions,
} from '../src/worker.service.js';

const EGYPTIAN_CAT = 286;

/** One worker service on a queue and database of its own, plus a producer and observers. */
interface Harness {
  config: AppConfig;
  redis: Redis;
  queue: ClassifyQueue;
  events: QueueEvents;
  repository: PredictionRepository;
  service: WorkerService;
}

const harnesses: Harness[] = [];

async function start(
  overrides: Record<string, string> = {},
  opts: (repository: PredictionRepository) => WorkerServiceOptions = () => ({}),
): Promise<Harness> {
  const config = testConfig(overrides);
  const redis = createRedis(config.redis.url);
  const queue = new ClassifyQueue(redis, config.queue);
  // Each job.waitUntilFinished listens on the queue; the bursts wait for hundreds at once.
  queue.bull.setMaxListeners(0);
  const events = new QueueEvents(config.queue.name, { connection: redis });
  const repository = await PredictionRepository.connect(config);
  const harness = { config, redis, queue, events, repository } as Harness;
  harnesses.push(harness);
  await events.waitUntilReady();
  harness.service = await createWorkerService(config, opts(repository));
  return harness;
}

afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    await h.service?.close();
    await h.events.close();
    await h.queue.bull.obliterate({ force: true });
    await h.queue.close();
    const pixelKeys = await h.redis.keys(`${h.config.queue.name}:pixels:*`);
    if (pixelKeys.length > 0) await h.redis.del(...pixelKeys);
    await h.redis.quit();
    await h.repository.dropDatabase();
    await h.repository.close();
  }
});

async function finished(h: Harness, id: string): Promise<ClassifyResult> {
  const job = await h.queue.bull.getJob(id);
  if (!job) throw new Error(`no job ${id}`);
  return job.waitUntilFinished(h.events, 60_000);
}

describe('worker service', () => {
  it('classifies cat.png as an Egyptian cat and stores the result before completing', async () => {
    const h = await start();
    const job = await imageJob('cat.png');
    await h.queue.enqueue([job]);

    const result = await finished(h, job.id);
    expect(result.predictions).toHaveLength(5);
    expect(result.predictions[0]?.index).toBe(EGYPTIAN_CAT);
    expect(result.cached).toBe(false);
    expect(result.processedBy).toBe(h.service.processedBy);
    expect(result.timings.batchSize).toBe(1);
    expect(result).not.toHaveProperty('thumbnail');

    const record = await h.repository.findByJobId(job.id);
    expect(record).toMatchObject({
      status: PredictionStatus.Completed,
      filename: 'cat.png',
      sha256: job.data.upload.sha256,
      predictions: result.predictions,
      model: result.model,
      timings: result.timings,
      processedBy: result.processedBy,
      createdAt: new Date(job.data.acceptedAt),
    });
    expect(record?.thumbnail?.equals(Buffer.from(job.data.thumbnail, 'base64'))).toBe(true);
    expect(await h.queue.pixels.getMany([job.id])).toEqual([null]);
  });

  it('runs a burst of jobs in batches larger than one', async () => {
    const h = await start({ MAX_BATCH: '16' });
    const files = ['cat.png', 'grace_hopper.png', 'parrot.jpg', 'face.jpg'];
    const jobs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => imageJob(files[i % files.length] as string)),
    );
    await h.queue.enqueue(jobs);

    const results = await Promise.all(jobs.map((job) => finished(h, job.id)));
    const sizes = results.map((r) => r.timings.batchSize);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16);
    expect(results[2]?.predictions[0]?.index).toBe(89);
    expect(await h.repository.count()).toBe(40);
  });

  it('fails a job whose pixels are missing at once, without retries, and records it', async () => {
    const h = await start();
    const { id, data } = await imageJob('cat.png');
    // Added without its pixels, as if they had expired.
    await h.queue.bull.add(JobName.Classify, data, { jobId: id });

    await expect(finished(h, id)).rejects.toThrow(/missing/);
    const job = await h.queue.bull.getJob(id);
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.opts.attempts).toBe(h.config.queue.attempts);

    const record = await h.repository.findByJobId(id);
    expect(record?.status).toBe(PredictionStatus.Failed);
    expect(record?.error).toMatch(/missing/);
    expect(record?.predictions ?? []).toHaveLength(0);
  });

  it('keeps one document when the same job is delivered twice', async () => {
    const h = await start();
    const job = await imageJob('parrot.jpg');
    await h.queue.enqueue([job]);
    const first = await finished(h, job.id);

    await h.queue.bull.remove(job.id);
    await h.queue.enqueue([await imageJob('parrot.jpg', job.id)]);
    const second = await finished(h, job.id);

    expect(second.predictions).toEqual(first.predictions);
    expect(await h.repository.count()).toBe(1);
    expect((await h.repository.findByJobId(job.id))?.status).toBe(PredictionStatus.Completed);
  });

  it('retries a batch whose results could not be stored', async () => {
    let failures = 0;
    const h = await start({}, (repository) => ({
      results: {
        findByJobId: (id) => repository.findByJobId(id),
        upsertMany: async (records) => {
          if (failures++ === 0) throw new Error('connection refused');
          return repository.upsertMany(records);
        },
      },
    }));
    const job = await imageJob('cat.png');
    await h.queue.enqueue([job]);

    const result = await finished(h, job.id);
    expect(result.predictions[0]?.index).toBe(EGYPTIAN_CAT);
    const done = await h.queue.bull.getJob(job.id);
    expect(done?.attemptsMade).toBeGreaterThan(1);
    expect((await h.repository.findByJobId(job.id))?.status).toBe(PredictionStatus.Completed);
  });

  it('keeps renewing job locks through a long burst: inference runs off the main thread', async () => {
    // Locks this short would be lost if a ~330 ms batch blocked the event loop.
    const h = await start({ MAX_BATCH: '32' }, () => ({
      worker: { lockDuration: 600, stalledInterval: 300 },
    }));
    const stalled: string[] = [];
    h.events.on('stalled', ({ jobId }) => stalled.push(jobId));
    h.service.worker.on('stalled', (jobId) => stalled.push(jobId));

    const jobs = await Promise.all(Array.from({ length: 200 }, () => imageJob('cat.png')));
    await h.queue.enqueue(jobs);
    const results = await Promise.all(jobs.map((job) => finished(h, job.id)));

    expect(results.every((r) => r.predictions[0]?.index === EGYPTIAN_CAT)).toBe(true);
    expect(Math.max(...results.map((r) => r.timings.batchSize))).toBe(32);
    expect(stalled).toEqual([]);
  }, 120_000);
});
