import { hostname } from 'node:os';
import { prepareModel } from '@imagerec/model';
import {
  type AppConfig,
  type ClassifyJobData,
  type ClassifyResult,
  createRedis,
  MetricLabel,
  modelInfo,
  PixelStore,
  PredictionRepository,
  QUEUE_DEPTH_STATES,
  ServiceMetrics,
  ServiceName,
  WebhookQueue,
} from '@imagerec/shared';
import { Queue, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { ClassifyProcessor, type ResultsStore } from './classify.processor.js';
import { InferencePool } from './inference/inference.pool.js';
import { startOpsServer } from './ops.server.js';

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
  readonly metrics: ServiceMetrics;
  /** Port of the /metrics, /healthz and /readyz listener. */
  readonly opsPort: number;
  /**
   * Stops taking jobs and finishes the ones in hand (the batch in inference and the one
   * gathering), then releases the thread, MongoDB and Redis.
   */
  close(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 60_000;

/**
 * Deletes results past their retention once a minute. Every worker sweeps: a sweep is
 * idempotent and, when there is nothing to delete, one read of the history index.
 */
function startRetentionSweeps(repository: PredictionRepository, log: Logger): NodeJS.Timeout {
  const sweep = async () => {
    try {
      const deleted = await repository.sweep();
      if (deleted > 0) log.info({ deleted }, 'deleted results past their retention');
    } catch (err) {
      log.warn({ err }, 'retention sweep failed; the next one retries');
    }
  };
  void sweep();
  return setInterval(sweep, SWEEP_INTERVAL_MS).unref();
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
  const metrics = new ServiceMetrics(ServiceName.Worker);
  // Released in reverse order, also when start-up fails half-way.
  const closers: (() => Promise<unknown>)[] = [];
  let closing = false;
  const close = async () => {
    closing = true;
    for (const closer of closers.splice(0).reverse()) await closer();
  };

  // Filled in as start-up gets there; /readyz reads them at each request.
  let redis: Redis | undefined;
  let repository: PredictionRepository | undefined;
  let pool: InferencePool | undefined;
  let worker: ClassifyWorker | undefined;
  const ops = await startOpsServer({
    ...config.workerOps,
    metrics,
    log,
    readiness: {
      redis: async () => (await redis?.ping()) === 'PONG',
      mongo: async () => {
        if (opts.results) return true;
        await repository?.ping();
        return repository !== undefined;
      },
      model: () => pool !== undefined,
      queue: () => !closing && worker?.isRunning() === true,
    },
  });
  closers.push(() => ops.close());

  try {
    const loadStarted = performance.now();
    const model = await prepareModel({
      ...config.model,
      log: (msg) => log.info(msg),
    });
    const inference = await InferencePool.start({
      onnxPath: model.onnxPath,
      labels: model.labels,
      intraOpThreads: config.worker.intraOpThreads,
    });
    pool = inference;
    closers.push(() => inference.close());
    metrics.modelLoad.set((performance.now() - loadStarted) / 1000);

    let results = opts.results;
    if (!results) {
      const connected = await PredictionRepository.connect(config);
      closers.push(() => connected.close());
      // In the background: one pass over the collection, which a large history makes long.
      void connected.rebuildHistoryIfLost().then(
        (rebuilt) => rebuilt > 0 && log.warn({ rebuilt }, 'history index was lost; rebuilt it'),
        (err) => log.error({ err }, 'rebuilding the history index failed'),
      );
      if (config.results.retentionDays !== undefined) {
        const timer = startRetentionSweeps(connected, log);
        closers.push(async () => clearInterval(timer));
      }
      repository = connected;
      results = connected;
    }

    const connection = createRedis(config.redis.url);
    redis = connection;
    closers.push(() => connection.quit());
    const depth = new Queue(config.queue.name, { connection });
    closers.push(() => depth.close());
    metrics.trackQueue(() => depth.getJobCounts(...QUEUE_DEPTH_STATES));
    // Present before the first batch: a rate over a series misses the sample that created it.
    metrics.imagesClassified.inc({ [MetricLabel.Precision]: model.precision }, 0);
    const webhooks = new WebhookQueue(connection, config.webhooks);
    closers.push(() => webhooks.close());

    const processor = new ClassifyProcessor({
      pixels: new PixelStore(connection, config.queue.name, config.queue.pixelsTtlS),
      results,
      classify: (images, topK) => inference.classify(images, topK),
      maxBatch: config.worker.maxBatch,
      maxBatchDelayMs: config.worker.maxBatchDelayMs,
      model: modelInfo(model.precision),
      processedBy,
      log,
      metrics,
      precision: model.precision,
      webhooks,
    });
    closers.push(() => processor.close());

    const consumer: ClassifyWorker = new Worker(config.queue.name, processor.process, {
      // A killed worker's jobs go back to the queue within lockMs + stalledCheckMs, not a minute;
      // a job may stall twice (two workers lost under it) before it fails.
      lockDuration: config.worker.lockMs,
      stalledInterval: config.worker.stalledCheckMs,
      maxStalledCount: 2,
      ...opts.worker,
      connection,
      // A batch gathering while one is in inference and another being stored.
      concurrency: 3 * config.worker.maxBatch,
    });
    worker = consumer;
    // BullMQ's close stops fetching and waits for the jobs in hand, so none is left active.
    closers.push(() => consumer.close());
    consumer.on('error', (err) => log.error({ err }, 'worker error'));
    consumer.on('failed', (job, err) =>
      log.warn(
        {
          jobId: job?.id,
          requestId: job?.data.requestId,
          attemptsMade: job?.attemptsMade,
          err: err.message,
        },
        'job failed',
      ),
    );
    await consumer.waitUntilReady();

    return { worker: consumer, processedBy, metrics, opsPort: ops.port, close };
  } catch (err) {
    await close();
    throw err;
  }
}
