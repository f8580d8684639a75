import {
  AppError,
  DeliveryResult,
  DeliveryStatus,
  type DeliveryView,
  errorMessage,
  type FirstAttemptsData,
  isFinished,
  type JobView,
  MetricLabel,
  type OutboundClient,
  type ServiceMetrics,
  type WebhookJobData,
  WebhookJobName,
  type WebhookQueue,
} from '@imagerec/shared';
import { type Job, UnrecoverableError } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { Webhook } from 'standardwebhooks';
import type { JobService } from '../jobs/job.service.js';

export type WebhookJob = Job<WebhookJobData | FirstAttemptsData, unknown, WebhookJobName>;

/** A receiver's answer is read only this far: nothing of it is used. */
const RECEIVER_BODY_BYTES = 64 * 1024;

export interface WebhookServiceDeps {
  queue: WebhookQueue;
  client: OutboundClient;
  /** The Standard Webhooks secret (whsec_...). */
  secret: string;
  jobs: JobService;
  /** Attempts of a delivery in all (WEBHOOK_ATTEMPTS). */
  attempts: number;
  metrics: ServiceMetrics;
  log: FastifyBaseLogger;
}

const errorText = (err: unknown) =>
  err instanceof AppError ? `${err.code}: ${err.message}` : errorMessage(err);

/** A refused target stays refused, and a missing secret missing: no point in more attempts. */
const isHopeless = (err: unknown) =>
  (err instanceof AppError && err.code === 'FETCH_REFUSED') || err instanceof UnrecoverableError;

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

  /** The BullMQ processor of the webhook queue. */
  readonly process = (job: WebhookJob): Promise<void> =>
    job.name === WebhookJobName.FirstAttempts
      ? this.firstAttempts(job.data as FirstAttemptsData)
      : this.deliver(job as Job<WebhookJobData>);

  /**
   * The first attempts of a batch's deliveries, all at once, so no receiver waits for another.
   * The delivered are marked so; the others continue as jobs of their own. A throw (Redis) makes
   * BullMQ run the batch again: at least once, the same webhook-id.
   */
  private async firstAttempts({ deliveries }: FirstAttemptsData): Promise<void> {
    const failures = await Promise.all(
      deliveries.map((d) =>
        this.attempt(d, 1).then(
          () => undefined,
          (err: unknown) => err,
        ),
      ),
    );
    const delivered: string[] = [];
    const failed: WebhookJobData[] = [];
    deliveries.forEach((d, i) => {
      const err = failures[i];
      if (err === undefined) {
        delivered.push(d.jobId);
      } else if (this.isFinal(err, 1)) {
        failed.push({ ...d, deadLetter: errorText(err) });
      } else {
        failed.push({ ...d, attemptsBefore: 1 });
      }
    });
    await Promise.all([
      this.deps.queue.mark(delivered, {
        status: DeliveryStatus.Delivered,
        attempts: 1,
        deliveredAt: new Date().toISOString(),
      }),
      this.deps.queue.continue(failed),
    ]);
  }

  /** A delivery's job of its own: one attempt; a throw schedules the next one (or dead-letters it). */
  private async deliver(job: Job<WebhookJobData>): Promise<void> {
    const { deadLetter, attemptsBefore = 0 } = job.data;
    // Its batch's attempt was the last one: a dead letter without another attempt. A retry from
    // the queue board (attempts not reset) makes a real one.
    if (deadLetter !== undefined && job.attemptsMade === 0)
      throw new UnrecoverableError(deadLetter);
    const attempt = attemptsBefore + job.attemptsMade + 1;
    try {
      await this.attempt(job.data, attempt);
    } catch (err) {
      if (this.isFinal(err, attempt)) throw new UnrecoverableError(errorText(err));
      throw new Error(errorText(err));
    }
  }

  /** Whether a failed attempt was the delivery's last; counted either way. */
  private isFinal(err: unknown, attempt: number): boolean {
    const final = isHopeless(err) || attempt >= this.deps.attempts;
    this.count(final ? DeliveryResult.DeadLettered : DeliveryResult.Retrying);
    return final;
  }

  /** One attempt of one delivery; throws why it failed. */
  private async attempt(delivery: WebhookJobData, attempt: number): Promise<void> {
    const { jobId, callbackUrl, topK, requestId } = delivery;
    try {
      if (!this.signer) throw new UnrecoverableError('No WEBHOOK_SECRET to sign webhooks with');
      const view = delivery.view ?? (await this.finishedView(jobId, topK));
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
      this.deps.log.info({ jobId, requestId, attempt, status: view.status }, 'webhook delivered');
    } catch (err) {
      this.deps.log.warn({ jobId, requestId, attempt, err: errorText(err) }, 'webhook failed');
      throw err;
    }
  }

  async status(jobId: string): Promise<DeliveryView | null> {
    // State first, as for jobs: what is read after it is at least as far along.
    const queue = this.deps.queue.bull;
    const state = await queue.getJobState(jobId);
    const job = state === 'unknown' ? undefined : await queue.getJob(jobId);
    // No job of its own: its first attempt is pending or has delivered it.
    if (!job) return this.deps.queue.marked(jobId);
    const data = job.data as WebhookJobData;
    const status =
      state === 'completed'
        ? DeliveryStatus.Delivered
        : state === 'failed'
          ? DeliveryStatus.DeadLettered
          : DeliveryStatus.Pending;
    return {
      id: jobId,
      status,
      attempts: job.attemptsMade + (data.attemptsBefore ?? 0),
      ...(job.failedReason && { lastError: job.failedReason }),
      ...(status === DeliveryStatus.Delivered &&
        job.finishedOn && { deliveredAt: new Date(job.finishedOn).toISOString() }),
    };
  }

  /** An operator's retry of a dead-lettered delivery: a full series of attempts, same id. */
  async retry(jobId: string): Promise<DeliveryView> {
    const job = (await this.deps.queue.bull.getJob(jobId)) as Job<WebhookJobData> | undefined;
    if (!job) {
      if (await this.deps.queue.marked(jobId)) throw new AppError('WEBHOOK_NOT_DEAD_LETTERED');
      const known = await this.deps.jobs.get(jobId, 1);
      throw new AppError(known ? 'NO_WEBHOOK' : 'JOB_NOT_FOUND');
    }
    if ((await job.getState()) !== 'failed') throw new AppError('WEBHOOK_NOT_DEAD_LETTERED');
    // The new series counts from 0 and makes its attempts.
    const { attemptsBefore: _before, deadLetter: _dead, ...delivery } = job.data;
    await job.updateData(delivery);
    await job.retry('failed', { resetAttemptsMade: true });
    this.deps.log.info({ jobId }, 'webhook delivery retried by an operator');
    const view = await this.status(jobId);
    if (!view) throw new AppError('NO_WEBHOOK');
    return view;
  }

  /** For a delivery queued without its view (a URL job whose fetch failed): read as GET reads it. */
  private async finishedView(jobId: string, topK: number): Promise<JobView> {
    const view = await this.deps.jobs.get(jobId, topK);
    if (!view || !isFinished(view.status)) throw new Error(`Job ${jobId} has not finished yet`);
    return view;
  }

  private count(result: DeliveryResult): void {
    this.deps.metrics.webhookDeliveries.inc({ [MetricLabel.Result]: result });
  }
}
