import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  type ClassifyJobData,
  type ClassifyResult,
  JobName,
  type JobPriority,
} from './contract.js';
import { PixelStore } from './payload.js';

/** A BullMQ queue that one side adds jobs to, under the job options both sides agree on. */
export class ProducerQueue<Data, Result, Name extends string> {
  /** The BullMQ queue underneath, for reads (a job, the counts) and the queue board. */
  readonly bull: Queue<Data, Result, Name>;

  constructor(redis: Redis, name: string, defaultJobOptions: JobsOptions) {
    this.bull = new Queue<Data, Result, Name>(name, { connection: redis, defaultJobOptions });
  }

  close(): Promise<void> {
    return this.bull.close();
  }
}

/** What the classify producer reads of the settings (the config's `queue`). */
export interface ClassifyQueueSettings {
  name: string;
  attempts: number;
  pixelsTtlS: number;
}

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

/** Bounded retention, and retries with backoff for transient faults. */
export const classifyJobOptions = (settings: ClassifyQueueSettings): JobsOptions => ({
  attempts: settings.attempts,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600, count: 10_000 },
});

/**
 * The producer side of the classify queue: pixels into Redis, then the jobs, in one bulk add.
 * It lives beside the contract, not in the API: the order (pixels before the job) and the job
 * options are what the worker relies on, and the worker's tests produce jobs with it.
 */
export class ClassifyQueue extends ProducerQueue<ClassifyJobData, ClassifyResult, JobName> {
  readonly pixels: PixelStore;

  constructor(redis: Redis, settings: ClassifyQueueSettings) {
    super(redis, settings.name, classifyJobOptions(settings));
    this.pixels = new PixelStore(redis, settings.name, settings.pixelsTtlS);
  }

  /** Each job's id once queued: its own, or that of the running job it joined. */
  async enqueue(jobs: NewClassifyJob[]): Promise<string[]> {
    // Pixels first: a worker may take a job the moment it is added. (A job that joins another
    // wrote its pixels for nothing; checking first would cost every upload a round trip.)
    await this.pixels.putMany(jobs.map(({ id, pixels }) => ({ jobId: id, pixels })));
    const added = await this.bull.addBulk(
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
}
