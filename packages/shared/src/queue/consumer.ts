import { type Processor, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ClassifyJobData, ClassifyResult } from './contract.js';

export type ClassifyWorker = Worker<ClassifyJobData, ClassifyResult>;

/** What the consumer reads of the settings (the config's queue name and `worker`). */
export interface ConsumerSettings {
  queueName: string;
  lockMs: number;
  stalledCheckMs: number;
  /** The most jobs one batch takes. */
  maxBatch: number;
}

/** Lock and stall settings, for tests that need them short. */
export type LockOverrides = Pick<
  WorkerOptions,
  'lockDuration' | 'stalledInterval' | 'maxStalledCount'
>;

/** The consumer side of the classify queue: a BullMQ worker that hands each job to `process`. */
export const createClassifyWorker = (
  connection: Redis,
  process: Processor<ClassifyJobData, ClassifyResult>,
  settings: ConsumerSettings,
  overrides: LockOverrides = {},
): ClassifyWorker =>
  new Worker(settings.queueName, process, {
    // A killed worker's jobs go back to the queue within lockMs + stalledCheckMs, not a minute;
    // a job may stall twice (two workers lost under it) before it fails.
    lockDuration: settings.lockMs,
    stalledInterval: settings.stalledCheckMs,
    maxStalledCount: 2,
    ...overrides,
    connection,
    // A batch gathering while one is in inference and another being stored.
    concurrency: 3 * settings.maxBatch,
  });
