import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppConfig } from './config.js';
import type { PredictionRecord } from './db/prediction.repository.js';
import { type JobView, viewFromRecord } from './job-view.js';
import type { ModelInfo } from './queue.js';

export enum WebhookJobName {
  Deliver = 'deliver',
}

/** One delivery: which job's view goes where. Its BullMQ id is the job's id, so it is added once. */
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
}

export type WebhookBullQueue = Queue<WebhookJobData, unknown, WebhookJobName>;

/**
 * Exponential backoff from backoffMs over `attempts` tries; a delivery that fails them all stays
 * in the failed set (the dead letters) for a week, where an operator can retry it.
 */
export const webhookJobOptions = (cfg: AppConfig['webhooks']): JobsOptions => ({
  attempts: cfg.attempts,
  backoff: { type: 'exponential', delay: cfg.backoffMs },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 100_000 },
});

/** The producer side of the webhook queue: the worker and the API add deliveries as jobs finish. */
export class WebhookQueue {
  readonly queue: WebhookBullQueue;

  constructor(redis: Redis, cfg: AppConfig['webhooks']) {
    this.queue = new Queue(cfg.queueName, {
      connection: redis,
      defaultJobOptions: webhookJobOptions(cfg),
    });
  }

  /**
   * A job finished twice (delivered again after a lost lock) adds nothing the second time:
   * BullMQ ignores an id it already holds, so the receiver gets one delivery id per job.
   */
  async enqueue(deliveries: WebhookJobData[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.queue.addBulk(
      deliveries.map((data) => ({
        name: WebhookJobName.Deliver,
        data,
        opts: { jobId: data.jobId },
      })),
    );
  }

  close(): Promise<void> {
    return this.queue.close();
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
