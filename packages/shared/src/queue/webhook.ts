import type { JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { ProducerQueue } from './producer.js';

export enum WebhookJobName {
  Deliver = 'deliver',
}

/** One delivery: which job's view goes where. Its BullMQ id is the job's id, so it is added once. */
export interface WebhookJobData {
  jobId: string;
  callbackUrl: string;
  topK: number;
  requestId?: string;
}

/** What the webhook producer reads of the settings (the config's `webhooks`). */
export interface WebhookQueueSettings {
  queueName: string;
  attempts: number;
  backoffMs: number;
}

/**
 * Exponential backoff from backoffMs over `attempts` tries; a delivery that fails them all stays
 * in the failed set (the dead letters) for a week, where an operator can retry it.
 */
export const webhookJobOptions = (cfg: WebhookQueueSettings): JobsOptions => ({
  attempts: cfg.attempts,
  backoff: { type: 'exponential', delay: cfg.backoffMs },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 100_000 },
});

/** The producer side of the webhook queue: the worker and the API add deliveries as jobs finish. */
export class WebhookQueue extends ProducerQueue<WebhookJobData, unknown, WebhookJobName> {
  constructor(redis: Redis, cfg: WebhookQueueSettings) {
    super(redis, cfg.queueName, webhookJobOptions(cfg));
  }

  /**
   * A job finished twice (delivered again after a lost lock) adds nothing the second time:
   * BullMQ ignores an id it already holds, so the receiver gets one delivery id per job.
   */
  async enqueue(deliveries: WebhookJobData[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.bull.addBulk(
      deliveries.map((data) => ({
        name: WebhookJobName.Deliver,
        data,
        opts: { jobId: data.jobId },
      })),
    );
  }
}

/** The deliveries a finished batch owes: one per job that carries a callback URL. */
export const deliveriesOf = (
  jobs: {
    jobId: string;
    data: { callbackUrl?: string; topK: number; requestId?: string };
  }[],
): WebhookJobData[] =>
  jobs.flatMap(({ jobId, data }) =>
    data.callbackUrl
      ? [
          {
            jobId,
            callbackUrl: data.callbackUrl,
            topK: data.topK,
            ...(data.requestId && { requestId: data.requestId }),
          },
        ]
      : [],
  );
