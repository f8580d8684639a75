import type { JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PredictionRecord } from '../db/prediction.schema.js';
import { type JobView, viewFromRecord } from '../job-view.js';
import { execChecked } from '../redis.js';
import type { ModelInfo } from './contract.js';
import { ProducerQueue } from './producer.js';

export enum WebhookJobName {
  /** The first attempts of a finished batch's deliveries, made together. */
  FirstAttempts = 'first-attempts',
  /** One delivery whose first attempt failed: its retries, or its dead letter. */
  Deliver = 'deliver',
}

/** One delivery: which job's view goes where. Its job of its own has the job's id as BullMQ id. */
export interface WebhookJobData {
  jobId: string;
  callbackUrl: string;
  topK: number;
  requestId?: string;
  /**
   * The view to send, made where the job finished from the record just stored: a delivery
   * needs no read of MongoDB. Absent only where no record was stored (a URL job whose fetch
   * failed): the delivery reads the view as GET /v1/jobs/:id does.
   */
  view?: JobView;
  /** Attempts made before this job took the delivery over (its batch's first one). */
  attemptsBefore?: number;
  /** Set when the first attempt was also the last: the job dead-letters it with this error. */
  deadLetter?: string;
}

/** The deliveries of one finished batch (or answer), for their first attempts. */
export interface FirstAttemptsData {
  deliveries: WebhookJobData[];
}

/** What the webhook producer reads of the settings (the config's `webhooks`). */
export interface WebhookQueueSettings {
  queueName: string;
  attempts: number;
  backoffMs: number;
}

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

/** How long a delivered webhook stays visible in its job's view, seconds. */
const DELIVERED_KEPT_S = 24 * 3600;

/**
 * Exponential backoff from backoffMs over `attempts` tries; a delivery that fails them all stays
 * in the failed set (the dead letters) for a week, where an operator can retry it.
 */
export const webhookJobOptions = (cfg: WebhookQueueSettings): JobsOptions => ({
  attempts: cfg.attempts,
  backoff: { type: 'exponential', delay: cfg.backoffMs },
  removeOnComplete: { age: DELIVERED_KEPT_S, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 100_000 },
});

/**
 * The webhook queue. A finished batch's deliveries go out in one BullMQ job, their first attempts
 * made together: a few Redis calls per batch instead of three Lua scripts per delivery. Each
 * delivery's status sits in a key of its own; one whose first attempt fails continues as a job of
 * its own, under the job's id, with the attempts left (retries, dead letter, an operator's retry).
 */
export class WebhookQueue extends ProducerQueue<
  WebhookJobData | FirstAttemptsData,
  unknown,
  WebhookJobName
> {
  constructor(
    private readonly redis: Redis,
    private readonly cfg: WebhookQueueSettings,
  ) {
    super(redis, cfg.queueName, webhookJobOptions(cfg));
  }

  /**
   * The deliveries of one finished batch, pending until their first attempts. A batch finished
   * twice (delivered again after a lost lock) adds nothing the second time: BullMQ ignores an id
   * it already holds, so the receiver gets each delivery id once.
   */
  async enqueue(deliveries: WebhookJobData[]): Promise<void> {
    const [first] = deliveries;
    if (!first) return;
    // Pending before the job exists, so it cannot land after the first attempt's outcome.
    await this.mark(
      deliveries.map((d) => d.jobId),
      { status: DeliveryStatus.Pending, attempts: 0 },
    );
    await this.bull.add(
      WebhookJobName.FirstAttempts,
      { deliveries },
      // Kept only as long as a lost lock may finish the batch again.
      { jobId: `first-${first.jobId}`, removeOnComplete: { age: 3600, count: 10_000 } },
    );
  }

  /**
   * Deliveries whose first attempt failed, each to a job of its own: after the first backoff, or
   * at once to be dead-lettered.
   */
  async continue(deliveries: WebhookJobData[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.bull.addBulk(
      deliveries.map((data) => ({
        name: WebhookJobName.Deliver,
        data,
        opts: {
          jobId: data.jobId,
          ...(data.deadLetter === undefined && {
            delay: this.cfg.backoffMs,
            // Its own retries wait as the delivery's next ones would: 2, 4, 8 ... backoffs.
            backoff: { type: 'exponential', delay: 2 * this.cfg.backoffMs },
          }),
        },
      })),
    );
  }

  /** Records the status of deliveries made by their batch (none has a job of its own). */
  async mark(jobIds: string[], status: Omit<DeliveryView, 'id'>): Promise<void> {
    if (jobIds.length === 0) return;
    const value = JSON.stringify(status);
    const pipeline = this.redis.pipeline();
    for (const id of jobIds) {
      // Pending never overwrites: a batch finished twice leaves its deliveries' status as it is.
      if (status.status === DeliveryStatus.Pending) {
        pipeline.set(this.statusKey(id), value, 'EX', DELIVERED_KEPT_S, 'NX');
      } else {
        pipeline.set(this.statusKey(id), value, 'EX', DELIVERED_KEPT_S);
      }
    }
    await execChecked(pipeline);
  }

  /** The status recorded by `mark`, for a delivery with no job of its own. */
  async marked(jobId: string): Promise<DeliveryView | null> {
    const value = await this.redis.get(this.statusKey(jobId));
    return value ? { id: jobId, ...(JSON.parse(value) as Omit<DeliveryView, 'id'>) } : null;
  }

  private statusKey(jobId: string): string {
    return `${this.cfg.queueName}:delivery:${jobId}`;
  }
}

/**
 * The deliveries finished jobs owe: one per job that carries a callback URL, with the view of
 * its stored `record` (`model` stands in where the record names none, as on GET).
 */
export const deliveriesOf = (
  jobs: {
    jobId: string;
    data: { callbackUrl?: string; topK: number; requestId?: string };
    record?: PredictionRecord;
  }[],
  model: ModelInfo,
): WebhookJobData[] =>
  jobs.flatMap(({ jobId, data, record }) =>
    data.callbackUrl
      ? [
          {
            jobId,
            callbackUrl: data.callbackUrl,
            topK: data.topK,
            ...(data.requestId && { requestId: data.requestId }),
            ...(record && { view: viewFromRecord(record, data.topK, model) }),
          },
        ]
      : [],
  );
