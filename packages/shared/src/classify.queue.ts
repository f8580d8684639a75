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
  /**
   * Jobs with the same key join: while one with this key is queued or running, another is not
   * added and answers with that job's id (BullMQ deduplication, whose key the job's end removes).
   */
  joinKey?: string;
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

  /** Each job's id once queued: its own, or that of the running job it joined. */
  async enqueue(jobs: NewClassifyJob[]): Promise<string[]> {
    // Pixels first: a worker may take a job the moment it is added. (A job that joins another
    // wrote its pixels for nothing; checking first would cost every upload a round trip.)
    await this.pixels.putMany(jobs.map(({ id, pixels }) => ({ jobId: id, pixels })));
    const added = await this.queue.addBulk(
      jobs.map(({ id, data, priority, joinKey }) => ({
        name: JobName.Classify,
        data,
        opts: { jobId: id, priority, ...(joinKey && { deduplication: { id: joinKey } }) },
      })),
    );
    const ids = jobs.map((j, i) => added[i]?.id ?? j.id);
    await this.pixels.deleteMany(jobs.filter((j, i) => ids[i] !== j.id).map((j) => j.id));
    return ids;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
