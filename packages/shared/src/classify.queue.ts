import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppConfig } from './config.js';
import { PixelStore } from './pixel.store.js';
import { type ClassifyJobData, type ClassifyResult, JobName, type JobPriority } from './queue.js';

export interface NewClassifyJob {
  id: string;
  data: ClassifyJobData;
  pixels: Buffer;
  priority: JobPriority;
}

export type ClassifyBullQueue = Queue<ClassifyJobData, ClassifyResult, JobName>;

/** Job options both sides agree on: bounded retention, retries with backoff for transient faults. */
export const classifyJobOptions = (cfg: AppConfig['queue']): JobsOptions => ({
  attempts: cfg.attempts,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600, count: 10_000 },
});

/** The producer side of the classify queue: pixels into Redis, then the jobs, in one bulk add. */
export class ClassifyQueue {
  readonly queue: ClassifyBullQueue;
  readonly pixels: PixelStore;

  constructor(redis: Redis, cfg: AppConfig['queue']) {
    this.queue = new Queue(cfg.name, {
      connection: redis,
      defaultJobOptions: classifyJobOptions(cfg),
    });
    this.pixels = new PixelStore(redis, cfg.name, cfg.pixelsTtlS);
  }

  async enqueue(jobs: NewClassifyJob[]): Promise<void> {
    // Pixels first: a worker may take a job the moment it is added.
    await this.pixels.putMany(jobs.map(({ id, pixels }) => ({ jobId: id, pixels })));
    await this.queue.addBulk(
      jobs.map(({ id, data, priority }) => ({
        name: JobName.Classify,
        data,
        opts: { jobId: id, priority },
      })),
    );
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
