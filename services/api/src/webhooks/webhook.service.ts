import {
  AppError,
  DeliveryResult,
  MetricLabel,
  type ModelInfo,
  type OutboundClient,
  type PredictionRepository,
  type ServiceMetrics,
  type WebhookJobData,
  type WebhookQueue,
} from '@imagerec/shared';
import { type Job, UnrecoverableError } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { Webhook } from 'standardwebhooks';
import type { JobService } from '../jobs/job.service.js';
import { isFinished, type JobView, viewFromRecord } from '../jobs/job-view.js';

export type WebhookJob = Job<WebhookJobData>;

/** A receiver's answer is read only this far: nothing of it is used. */
const RECEIVER_BODY_BYTES = 64 * 1024;

export enum DeliveryStatus {
  Pending = 'pending',
  Delivered = 'delivered',
  DeadLettered = 'dead_lettered',
}

/** What GET /v1/jobs/:id tells about a job's webhook. */
export interface DeliveryView {
  /** The webhook-id header of every attempt, for a receiver's dedupe. */
  id: string;
  status: DeliveryStatus;
  attempts: number;
  lastError?: string;
  deliveredAt?: string;
}

export interface WebhookServiceDeps {
  queue: WebhookQueue;
  client: OutboundClient;
  /** The Standard Webhooks secret (whsec_...). */
  secret: string;
  jobs: JobService;
  repository: PredictionRepository;
  model: ModelInfo;
  metrics: ServiceMetrics;
  log: FastifyBaseLogger;
}

const errorText = (err: unknown) =>
  err instanceof AppError ? `${err.code}: ${err.message}` : String((err as Error).message ?? err);

/**
 * Delivers finished jobs' views to their callback URLs, signed the Standard Webhooks way, through
 * the guarded outbound client; reports and retries deliveries for GET /v1/jobs/:id and operators.
 */
export class WebhookService {
  /**
   * None without a secret: POST then refuses callback URLs, and a delivery queued before the
   * secret was removed is dead-lettered with the reason.
   */
  private readonly signer: Webhook | undefined;

  constructor(private readonly deps: WebhookServiceDeps) {
    this.signer = deps.secret ? new Webhook(deps.secret) : undefined;
  }

  /** The BullMQ processor: one attempt; a throw schedules the next one (or dead-letters it). */
  readonly deliver = async (job: WebhookJob): Promise<void> => {
    const { jobId, callbackUrl, topK } = job.data;
    const log = this.deps.log.child({ jobId, requestId: job.data.requestId });
    try {
      if (!this.signer) throw new UnrecoverableError('No WEBHOOK_SECRET to sign webhooks with');
      const view = await this.finishedView(jobId, topK);
      const body = JSON.stringify(view);
      const timestamp = new Date();
      const res = await this.deps.client.request({
        method: 'POST',
        url: callbackUrl,
        maxBytes: RECEIVER_BODY_BYTES,
        body,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'imagerec-webhooks',
          'webhook-id': jobId,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
          'webhook-signature': this.signer.sign(jobId, timestamp, body),
        },
      });
      if (res.status < 200 || res.status > 299) {
        throw new Error(`The receiver answered ${res.status}`);
      }
      this.count(DeliveryResult.Delivered);
      log.info({ attempt: job.attemptsMade + 1, status: view.status }, 'webhook delivered');
    } catch (err) {
      // A refused target stays refused: no point in more attempts.
      const final =
        (err instanceof AppError && err.code === 'FETCH_REFUSED') ||
        job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.count(final ? DeliveryResult.DeadLettered : DeliveryResult.Retrying);
      log.warn({ attempt: job.attemptsMade + 1, final, err: errorText(err) }, 'webhook failed');
      if (final) throw new UnrecoverableError(errorText(err));
      throw new Error(errorText(err));
    }
  };

  async status(jobId: string): Promise<DeliveryView | null> {
    // State first, as for jobs: what is read after it is at least as far along.
    const queue = this.deps.queue.bull;
    const state = await queue.getJobState(jobId);
    const job = state === 'unknown' ? undefined : await queue.getJob(jobId);
    if (!job) return null;
    const status =
      state === 'completed'
        ? DeliveryStatus.Delivered
        : state === 'failed'
          ? DeliveryStatus.DeadLettered
          : DeliveryStatus.Pending;
    return {
      id: jobId,
      status,
      attempts: job.attemptsMade,
      ...(job.failedReason && { lastError: job.failedReason }),
      ...(status === DeliveryStatus.Delivered &&
        job.finishedOn && { deliveredAt: new Date(job.finishedOn).toISOString() }),
    };
  }

  /** An operator's retry of a dead-lettered delivery: a full series of attempts, same id. */
  async retry(jobId: string): Promise<DeliveryView> {
    const job = await this.deps.queue.bull.getJob(jobId);
    if (!job) {
      const known = await this.deps.jobs.get(jobId, 1);
      throw new AppError(known ? 'NO_WEBHOOK' : 'JOB_NOT_FOUND');
    }
    if ((await job.getState()) !== 'failed') throw new AppError('WEBHOOK_NOT_DEAD_LETTERED');
    await job.retry('failed', { resetAttemptsMade: true });
    this.deps.log.info({ jobId }, 'webhook delivery retried by an operator');
    const view = await this.status(jobId);
    if (!view) throw new AppError('NO_WEBHOOK');
    return view;
  }

  /**
   * The stored record first: it is written before the delivery is queued, while the queue may
   * not show the job finished yet. A job with no record (a failed fetch) is read as GET reads it.
   */
  private async finishedView(jobId: string, topK: number): Promise<JobView> {
    const record = await this.deps.repository.findByJobId(jobId);
    const view = record
      ? viewFromRecord(record, topK, this.deps.model)
      : await this.deps.jobs.get(jobId, topK);
    if (!view || !isFinished(view.status)) throw new Error(`Job ${jobId} has not finished yet`);
    return view;
  }

  private count(result: DeliveryResult): void {
    this.deps.metrics.webhookDeliveries.inc({ [MetricLabel.Result]: result });
  }
}
