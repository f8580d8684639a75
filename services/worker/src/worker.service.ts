import { hostname } from 'node:os';
import { prepareModel } from '@imagerec/model';
import {
  type AppConfig,
  type ClassifyJobData,
  type ClassifyResult,
  createRedis,
  PixelStore,
  PredictionRepository,
} from '@imagerec/shared';
import { Worker, type WorkerOptions } from 'bullmq';
import { type Logger, pino } from 'pino';
import { ClassifyProcessor, type ResultsStore } from './classify.processor.js';
import { InferencePool } from './inference/inference.pool.js';

export type ClassifyWorker = Worker<ClassifyJobData, ClassifyResult>;

export interface WorkerServiceOptions {
  /** Replaces the MongoDB repository the service would connect; the caller closes it. */
  results?: ResultsStore;
  log?: Logger;
  /** Lock and stall settings, for tests that need them short. */
  worker?: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount'>;
}

export interface WorkerService {
  readonly worker: ClassifyWorker;
  /** host:pid, as in each result's processedBy. */
  readonly processedBy: string;
  /** Finishes active jobs, then releases the thread, MongoDB and Redis. */
  close(): Promise<void>;
}

/**
 * Everything a worker process runs: the model checked, the inference thread warmed up,
 * the results store and Redis connected, and the BullMQ worker taking jobs.
 */
export async function createWorkerService(
  config: AppConfig,
  opts: WorkerServiceOptions = {},
): Promise<WorkerService> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { service: 'worker' } });
  const processedBy = `${hostname()}:${process.pid}`;
  // Released in reverse order, also when start-up fails half-way.
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };

  try {
    const model = await prepareModel({
      ...config.model,
      log: (msg) => log.info(msg),
    });
    const pool = await InferencePool.start({
      onnxPath: model.onnxPath,
      labels: model.labels,
      intraOpThreads: config.worker.intraOpThreads,
    });
    closers.push(() => pool.close());

    let results = opts.results;
    if (!results) {
      const repository = await PredictionRepository.connect(config.mongo.url, {
        serverSelectionTimeoutMs: config.mongo.timeoutMs,
      });
      closers.push(() => repository.close());
      results = repository;
    }

    const redis = createRedis(config.redis.url);
    closers.push(() => redis.quit());

    const processor = new ClassifyProcessor({
      pixels: new PixelStore(redis, config.queue.name, config.queue.pixelsTtlS),
      results,
      classify: (images, topK) => pool.classify(images, topK),
      maxBatch: config.worker.maxBatch,
      maxBatchDelayMs: config.worker.maxBatchDelayMs,
      processedBy,
      log,
    });
    closers.push(() => processor.close());

    const worker: ClassifyWorker = new Worker(config.queue.name, processor.process, {
      // A killed worker's jobs go back to the queue within lockMs + stalledCheckMs, not a minute;
      // a job may stall twice (two workers lost under it) before it fails.
      lockDuration: config.worker.lockMs,
      stalledInterval: config.worker.stalledCheckMs,
      maxStalledCount: 2,
      ...opts.worker,
      connection: redis,
      // A batch gathering while one is in inference and another being stored.
      concurrency: 3 * config.worker.maxBatch,
    });
    closers.push(() => worker.close());
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    worker.on('failed', (job, err) =>
      log.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'job failed'),
    );
    await worker.waitUntilReady();

    return { worker, processedBy, close };
  } catch (err) {
    await close();
    throw err;
  }
}
