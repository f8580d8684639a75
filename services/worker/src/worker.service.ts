import { hostname } from 'node:os';
import { prepareModel } from '@imagerec/model';
import {
  type AppConfig,
  type ClassifyWorker,
  CloseStack,
  createClassifyWorker,
  createRedis,
  type LockOverrides,
  MetricLabel,
  modelInfo,
  PixelStore,
  PredictionRepository,
  QUEUE_DEPTH_STATES,
  ServiceMetrics,
  ServiceName,
  WebhookQueue,
} from '@imagerec/shared';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { ClassifyProcessor, type ResultsStore } from './classify.processor.js';
import { InferencePool } from './inference/inference.pool.js';
import { type OpsServer, startOpsServer } from './ops.server.js';

export interface WorkerServiceOptions {
  /** Replaces the MongoDB repository the service would connect; the caller closes it. */
  results?: ResultsStore;
  log?: Logger;
  /** Lock and stall settings, for tests that need them short. */
  worker?: LockOverrides;
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

/** What start-up has got to, filled in step by step; /readyz reads it at each request. */
interface StartState {
  redis?: Redis;
  repository?: PredictionRepository;
  /** True where the caller gave its own results store: nothing of ours to check. */
  ownResults: boolean;
  pool?: InferencePool;
  worker?: ClassifyWorker;
  closing: boolean;
}

/** One start step's context: what it reads, and where it registers what it started. */
interface StartContext {
  config: AppConfig;
  log: Logger;
  metrics: ServiceMetrics;
  state: StartState;
  closers: CloseStack;
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

/** First, so an orchestrator sees the process live (not ready) while the model loads. */
async function startOps({
  config,
  log,
  metrics,
  state,
  closers,
}: StartContext): Promise<OpsServer> {
  const ops = await startOpsServer({
    ...config.workerOps,
    metrics,
    log,
    readiness: {
      redis: async () => (await state.redis?.ping()) === 'PONG',
      mongo: async () => {
        if (state.ownResults) return true;
        await state.repository?.ping();
        return state.repository !== undefined;
      },
      model: () => state.pool !== undefined,
      queue: () => !state.closing && state.worker?.isRunning() === true,
    },
  });
  return closers.adopt(ops, (o) => o.close());
}

/** The model checked (prepared if need be) and the inference thread warmed up on it. */
async function loadModel({ config, log, metrics, state, closers }: StartContext) {
  const loadStarted = performance.now();
  const model = await prepareModel({ ...config.model, log: (msg) => log.info(msg) });
  const pool = await InferencePool.start({
    onnxPath: model.onnxPath,
    labels: model.labels,
    intraOpThreads: config.worker.intraOpThreads,
  });
  state.pool = closers.adopt(pool, (p) => p.close());
  metrics.modelLoad.set((performance.now() - loadStarted) / 1000);
  return { model, pool };
}

/** MongoDB's results store, its history index checked and, with a retention, swept. */
async function connectResults({ config, log, state, closers }: StartContext) {
  const repository = closers.adopt(await PredictionRepository.connect(config), (r) => r.close());
  // In the background: one pass over the collection, which a large history makes long.
  void repository.rebuildHistoryIfLost().then(
    (rebuilt) => rebuilt > 0 && log.warn({ rebuilt }, 'history index was lost; rebuilt it'),
    (err) => log.error({ err }, 'rebuilding the history index failed'),
  );
  if (config.results.retentionDays !== undefined) {
    const timer = startRetentionSweeps(repository, log);
    closers.defer(() => clearInterval(timer));
  }
  state.repository = repository;
  return repository;
}

/** The Redis connection, the queue depth gauge on it, and the webhook producer. */
function connectQueues({ config, metrics, state, closers }: StartContext) {
  const connection = closers.adopt(createRedis(config.redis.url), (c) => c.quit());
  state.redis = connection;
  const depth = closers.adopt(new Queue(config.queue.name, { connection }), (q) => q.close());
  metrics.trackQueue(() => depth.getJobCounts(...QUEUE_DEPTH_STATES));
  const webhooks = closers.adopt(new WebhookQueue(connection, config.webhooks), (w) => w.close());
  return { connection, webhooks };
}

/** The BullMQ worker taking jobs, connected before start-up counts as done. */
async function startConsumer(
  { config, log, state, closers }: StartContext,
  connection: Redis,
  processor: ClassifyProcessor,
  overrides: LockOverrides | undefined,
): Promise<ClassifyWorker> {
  const worker = createClassifyWorker(
    connection,
    processor.process,
    { queueName: config.queue.name, ...config.worker },
    overrides,
  );
  // BullMQ's close stops fetching and waits for the jobs in hand, so none is left active.
  state.worker = closers.adopt(worker, (w) => w.close());
  worker.on('error', (err) => log.error({ err }, 'worker error'));
  worker.on('failed', (job, err) =>
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
  await worker.waitUntilReady();
  return worker;
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
  const closers = new CloseStack();
  const state: StartState = { ownResults: opts.results !== undefined, closing: false };
  const close = () => {
    state.closing = true;
    return closers.close();
  };
  const ctx: StartContext = { config, log, metrics, state, closers };

  const ops = await startOps(ctx);
  try {
    const { model, pool } = await loadModel(ctx);
    const results = opts.results ?? (await connectResults(ctx));
    const { connection, webhooks } = connectQueues(ctx);
    // Present before the first batch: a rate over a series misses the sample that created it.
    metrics.imagesClassified.inc({ [MetricLabel.Precision]: model.precision }, 0);
    const processor = closers.adopt(
      new ClassifyProcessor({
        pixels: new PixelStore(connection, config.queue.name, config.queue.pixelsTtlS),
        results,
        classify: (images, topK) => pool.classify(images, topK),
        maxBatch: config.worker.maxBatch,
        maxBatchDelayMs: config.worker.maxBatchDelayMs,
        model: modelInfo(model.precision),
        processedBy,
        log,
        metrics,
        precision: model.precision,
        webhooks,
      }),
      (p) => p.close(),
    );
    const worker = await startConsumer(ctx, connection, processor, opts.worker);
    return { worker, processedBy, metrics, opsPort: ops.port, close };
  } catch (err) {
    await close();
    throw err;
  }
}
