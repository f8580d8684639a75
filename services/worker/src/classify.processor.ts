import {
  type ClassifyJobData,
  type ClassifyResult,
  deliveriesOf,
  EXPIRED_REASON,
  errorMessage,
  MetricLabel,
  MODEL_SPEC,
  type ModelInfo,
  type ModelPrecision,
  type PixelStore,
  type PredictionRecord,
  PredictionStatus,
  type ServiceMetrics,
  type WebhookQueue,
} from '@imagerec/shared';
import { type Job, UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import { Batcher } from './batcher.js';
import type { InferenceOutput } from './inference/inference.pool.js';

export type ClassifyJob = Job<ClassifyJobData, ClassifyResult>;

/** Where results go; the PredictionRepository, or a stand-in in tests. */
export interface ResultsStore {
  upsertMany(records: PredictionRecord[]): Promise<void>;
  findByJobId(jobId: string): Promise<PredictionRecord | null>;
}

export interface ClassifyProcessorOptions {
  pixels: PixelStore;
  results: ResultsStore;
  classify: (images: Uint8Array[], topK: number) => Promise<InferenceOutput>;
  maxBatch: number;
  maxBatchDelayMs: number;
  /** The model `classify` runs, recorded with each result. */
  model: ModelInfo;
  /** host:pid of this process. */
  processedBy: string;
  log: Logger;
  metrics?: ServiceMetrics;
  /** The model's numeric precision, the label of the images-classified counter. */
  precision: ModelPrecision;
  /** Where the webhooks of finished jobs that carry a callback URL are queued. */
  webhooks?: Pick<WebhookQueue, 'enqueue'>;
}

interface BatchItem {
  jobId: string;
  data: ClassifyJobData;
}

/** What the batch made of one job: its result, or why it was not classified. */
type BatchOutcome =
  | {
      kind: 'inferred';
      result: ClassifyResult;
      /** Settles once the whole batch's results are stored and its pixels deleted. */
      stored: Promise<void>;
    }
  | { kind: 'missing' }
  | { kind: 'malformed'; bytes: number }
  | { kind: 'expired'; lateMs: number };

/** Mirrors BullMQ's own retry decision (Job.shouldRetryJob). */
const isFinalFailure = (job: ClassifyJob, err: unknown) =>
  (err instanceof Error && err.name === 'UnrecoverableError') ||
  job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/**
 * The BullMQ processor: gathers jobs into batches, one inference call and one results write per
 * batch. A job completes only after its result is stored; a store fault fails the batch's jobs
 * with a plain Error so BullMQ retries them. Missing or malformed pixels fail a job for good,
 * and so does a deadline that passed before the job was taken (it is marked expired).
 */
export class ClassifyProcessor {
  private readonly batcher: Batcher<BatchItem, BatchOutcome>;
  /** Jobs skipped because their deadline had passed when this worker took them. */
  expired = 0;

  constructor(private readonly opts: ClassifyProcessorOptions) {
    this.batcher = new Batcher({
      maxBatch: opts.maxBatch,
      maxDelayMs: opts.maxBatchDelayMs,
      run: (items) => this.infer(items),
    });
  }

  readonly process = async (job: ClassifyJob): Promise<ClassifyResult> => {
    const jobId = String(job.id);
    // The API's request id on every line about this job: grep for it across all logs.
    const log = this.opts.log.child({ jobId, requestId: job.data.requestId });
    try {
      const outcome = await this.batcher.add({ jobId, data: job.data });
      switch (outcome.kind) {
        case 'inferred': {
          await outcome.stored;
          const { batchSize, queuedMs, inferenceMs } = outcome.result.timings;
          log.info({ batchSize, queuedMs, inferenceMs }, 'job classified');
          return outcome.result;
        }
        case 'missing': {
          // Delivered again after its result was stored (its lock was lost before it completed).
          const done = await this.storedResult(jobId);
          if (done) return done;
          throw new UnrecoverableError('The preprocessed image is missing (expired?)');
        }
        case 'malformed':
          throw new UnrecoverableError(
            `The preprocessed image has ${outcome.bytes} bytes instead of ${MODEL_SPEC.inputBytes}`,
          );
        case 'expired':
          // Nobody waits for this answer any more: no compute spent on it, and it fails for good.
          this.expired++;
          this.opts.metrics?.jobsExpired.inc();
          log.info(
            { lateMs: outcome.lateMs, expired: this.expired },
            'job expired before a worker took it',
          );
          throw new UnrecoverableError(EXPIRED_REASON);
      }
    } catch (err) {
      if (isFinalFailure(job, err)) await this.recordFailure(jobId, job.data, err, log);
      throw err;
    }
  };

  /** Runs what is gathered; call once the BullMQ worker has stopped taking jobs. */
  close(): Promise<void> {
    return this.batcher.close();
  }

  private async storedResult(jobId: string): Promise<ClassifyResult | undefined> {
    const r = await this.opts.results.findByJobId(jobId);
    if (r?.status !== PredictionStatus.Completed || !r.predictions || !r.model || !r.timings) {
      return undefined;
    }
    const { predictions, model, timings } = r;
    return { predictions, model, timings, cached: !!r.cached, processedBy: r.processedBy ?? '' };
  }

  /**
   * The batcher's run covers inference only: the next batch's inference starts while this
   * batch's results are being stored. Each job still waits for the store before completing.
   * The batch's pixels come in one read; a job whose pixels are missing or malformed, or whose
   * deadline has passed, is left out of the model's call.
   */
  private async infer(items: BatchItem[]): Promise<BatchOutcome[]> {
    const startedAt = Date.now();
    const pixels = await this.opts.pixels.getMany(items.map((item) => item.jobId));
    const outcomes: BatchOutcome[] = [];
    const ready: { item: BatchItem; pixels: Buffer; index: number }[] = [];
    items.forEach((item, index) => {
      const bytes = pixels[index];
      const { deadline } = item.data;
      if (!bytes) outcomes[index] = { kind: 'missing' };
      else if (bytes.length !== MODEL_SPEC.inputBytes) {
        outcomes[index] = { kind: 'malformed', bytes: bytes.length };
      } else if (deadline !== undefined && startedAt > deadline) {
        outcomes[index] = { kind: 'expired', lateMs: startedAt - deadline };
      } else ready.push({ item, pixels: bytes, index });
    });
    if (ready.length === 0) return outcomes;

    const topK = Math.max(...ready.map(({ item }) => item.data.topK));
    const { predictions, inferenceMs } = await this.opts.classify(
      ready.map((r) => r.pixels),
      topK,
    );
    const finishedAt = new Date();
    const { metrics } = this.opts;
    if (metrics) {
      for (const { item } of ready) {
        metrics.jobWait.observe((startedAt - item.data.acceptedAt) / 1000);
      }
      metrics.inferenceDuration.observe(inferenceMs / 1000);
      metrics.batchSize.observe(ready.length);
      metrics.imagesClassified.inc({ [MetricLabel.Precision]: this.opts.precision }, ready.length);
    }
    const results = ready.map(
      ({ item: { data } }, i): ClassifyResult => ({
        predictions: (predictions[i] ?? []).slice(0, data.topK),
        model: { ...this.opts.model },
        timings: {
          queuedMs: startedAt - data.acceptedAt,
          inferenceMs,
          totalMs: finishedAt.getTime() - data.acceptedAt,
          batchSize: ready.length,
        },
        cached: false,
        processedBy: this.opts.processedBy,
      }),
    );
    const stored = this.store(
      ready.map((r) => r.item),
      results,
      finishedAt,
    );
    // Every job of the batch awaits it; this only keeps a rejection from counting as unhandled.
    stored.catch(() => {});
    ready.forEach(({ index }, i) => {
      outcomes[index] = { kind: 'inferred', result: results[i] as ClassifyResult, stored };
    });
    return outcomes;
  }

  private async store(items: BatchItem[], results: ClassifyResult[], finishedAt: Date) {
    const records = items.map(
      ({ jobId, data }, i): PredictionRecord => ({
        ...this.baseRecord(jobId, data, finishedAt),
        ...results[i],
        status: PredictionStatus.Completed,
      }),
    );
    const write = () => this.opts.results.upsertMany(records);
    const { metrics } = this.opts;
    try {
      await (metrics ? metrics.time(metrics.mongoWriteDuration, write) : write());
    } catch (err) {
      throw new Error(`Storing ${items.length} results failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    // Before the jobs complete: a fault here retries the batch, so no webhook is lost.
    await this.opts.webhooks?.enqueue(
      deliveriesOf(
        items.map((item, i) => ({ ...item, record: records[i] })),
        this.opts.model,
      ),
    );
    // Not awaited: nothing waits for it, and pixels left behind expire on their own.
    void this.deletePixels(items.map((item) => item.jobId));
  }

  private async recordFailure(
    jobId: string,
    data: ClassifyJobData,
    err: unknown,
    log: Logger,
  ): Promise<void> {
    const record: PredictionRecord = {
      ...this.baseRecord(jobId, data, new Date()),
      status: PredictionStatus.Failed,
      processedBy: this.opts.processedBy,
      error: errorMessage(err),
    };
    try {
      await this.opts.results.upsertMany([record]);
    } catch (storeErr) {
      // The job still fails in BullMQ, which keeps its reason; only the history lacks it.
      log.error({ err: storeErr }, 'storing a failed job failed');
    }
    try {
      await this.opts.webhooks?.enqueue(deliveriesOf([{ jobId, data, record }], this.opts.model));
    } catch (queueErr) {
      log.error({ err: queueErr }, "queueing a failed job's webhook failed");
    }
    await this.deletePixels([jobId]);
  }

  private baseRecord(jobId: string, data: ClassifyJobData, finishedAt: Date) {
    return {
      jobId,
      ...data.upload,
      thumbnail: Buffer.from(data.thumbnail, 'base64'),
      createdAt: new Date(data.acceptedAt),
      finishedAt,
    };
  }

  private async deletePixels(jobIds: string[]): Promise<void> {
    try {
      await this.opts.pixels.deleteMany(jobIds);
    } catch (err) {
      // Harmless: the pixels expire on their own.
      this.opts.log.warn({ jobIds, err }, 'deleting pixels failed');
    }
  }
}
