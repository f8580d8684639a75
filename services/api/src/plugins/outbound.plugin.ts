import {
  CloseStack,
  createRedis,
  deliveriesOf,
  modelInfo,
  OutboundClient,
  QueueName,
} from '@imagerec/shared';
import { Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { FetchJobData } from '../jobs/url-jobs.service.js';
import { WebhookService } from '../webhooks/webhook.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: WebhookService;
  }
}

/**
 * What the API sends out, through one guarded client: webhook deliveries and image downloads.
 * Both queues are consumed here, each by a BullMQ worker of its own with its own concurrency, so
 * a slow receiver holds only webhook slots, never inference (the worker processes) nor the other
 * deliveries beyond its own. The API consumes them rather than the worker: the upload checks live
 * here, and the workers' event loops stay free to time their batches.
 */
export const outboundPlugin = fp(
  async (app: FastifyInstance) => {
    const { config, metrics, jobs, urlJobs } = app;
    const client = new OutboundClient(config.outbound);
    const model = modelInfo(config.model.precision);
    const webhooks = new WebhookService({
      queue: app.webhookQueue,
      client,
      secret: config.webhooks.secret,
      jobs,
      attempts: config.webhooks.attempts,
      metrics,
      log: app.log.child({ queue: QueueName.Webhook }),
    });
    app.decorate('webhooks', webhooks);

    const closers = new CloseStack();
    closers.adopt(client, (c) => c.close());
    const connection = closers.adopt(createRedis(config.redis.url), (c) => c.disconnect());
    connection.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'));
    const deliverer = new Worker(config.webhooks.queueName, webhooks.process, {
      connection,
      concurrency: config.webhooks.concurrency,
    });
    const fetcher = new Worker<FetchJobData>(
      config.fetch.queueName,
      urlJobs.processor(client, jobs, metrics),
      { connection, concurrency: config.fetch.concurrency },
    );
    // A URL job whose fetch failed for good (BullMQ sets finishedOn then) is finished: its
    // webhook goes out now, once the failed state is there for the delivery to read.
    fetcher.on('failed', (job) => {
      if (!job?.finishedOn) return;
      void app.webhookQueue
        .enqueue(deliveriesOf([{ jobId: String(job.id), data: job.data }], model))
        .catch((err) =>
          app.log.error({ err, jobId: job.id }, "queueing a URL job's webhook failed"),
        );
    });
    for (const w of [deliverer, fetcher]) {
      w.on('error', (err) => app.log.warn({ err: err.message }, 'outbound worker error'));
    }
    closers.defer(() => Promise.all([deliverer.close(), fetcher.close()]));
    // Connected before the app is: closing one still starting would leave a read failing unhandled.
    await Promise.all([deliverer.waitUntilReady(), fetcher.waitUntilReady()]);
    app.addHook('onClose', () => closers.close());
  },
  { name: 'outbound', dependencies: ['backends'] },
);
