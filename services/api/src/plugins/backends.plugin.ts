import {
  type AppConfig,
  ClassifyQueue,
  type ClassifyResult,
  createRedis,
  modelInfo,
  PredictionRepository,
  QUEUE_DEPTH_STATES,
  type ReadinessChecks,
  WebhookQueue,
} from '@imagerec/shared';
import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { JobService } from '../jobs/job.service.js';
import { JobWaiters } from '../jobs/job-waiters.js';
import { UrlJobService } from '../jobs/url-jobs.service.js';
import { InFlightTracker } from '../lifecycle/in-flight-tracker.js';

/** How long shutdown lets running handlers finish before it closes their connections. */
const DRAIN_TIMEOUT_MS = 10_000;
/** How long requests woken after the drain get to read their job's state and answer. */
const STATE_READ_MS = 1_000;

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig;
    jobs: JobService;
    repository: PredictionRepository;
    /** What /readyz checks, by name. */
    readinessChecks: ReadinessChecks;
    /** The classify queue, for the queue dashboard. */
    classifyQueue: ClassifyQueue;
    /** Webhook deliveries (producer side). */
    webhookQueue: WebhookQueue;
    /** Images submitted by URL, waiting for their download. */
    urlJobs: UrlJobService;
  }
}

/**
 * The adapters to Redis (queue, pixels, job events) and MongoDB (results), and the
 * job service over them. One QueueEvents subscription serves every waiting request.
 */
export const backendsPlugin = fp(
  async (app: FastifyInstance) => {
    const { config } = app;
    const redis = createRedis(config.redis.url, { failFast: true });
    // ioredis reconnects by itself; requests meanwhile answer 503.
    redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'));
    const queue = new ClassifyQueue(redis, config.queue);
    const repository = await PredictionRepository.connect(config);
    const waiters = new JobWaiters();
    const eventsConnection = createRedis(config.redis.url);
    eventsConnection.on('error', () => {
      // Reported once by QueueEvents' own error event below; ioredis reconnects by itself.
    });
    const events = new QueueEvents(config.queue.name, { connection: eventsConnection });
    // A completed event carries the result, so a waiting predict needs no read of its own.
    events.on('completed', ({ jobId, returnvalue }) =>
      waiters.notify(jobId, {
        state: 'completed',
        result: returnvalue as unknown as ClassifyResult,
      }),
    );
    events.on('failed', ({ jobId, failedReason }) =>
      waiters.notify(jobId, { state: 'failed', reason: failedReason }),
    );
    events.on('removed', ({ jobId }) => waiters.notify(jobId, { state: 'removed' }));
    events.on('error', (err) => app.log.warn({ err }, 'queue events connection error'));
    await events.waitUntilReady();

    const { metrics } = app;
    metrics.trackQueue(() => queue.queue.getJobCounts(...QUEUE_DEPTH_STATES));

    app.decorate('repository', repository);
    app.decorate('classifyQueue', queue);
    const webhooks = new WebhookQueue(redis, config.webhooks);
    const urlJobs = new UrlJobService(redis, config, modelInfo(config.model.precision));
    // Each BullMQ queue reads Redis's version as it starts: an app closed before that read
    // answered would leave it to fail unhandled.
    await Promise.all([queue.queue, webhooks.queue, urlJobs.queue].map((q) => q.waitUntilReady()));
    app.decorate('webhookQueue', webhooks);
    app.decorate('urlJobs', urlJobs);
    app.decorate(
      'jobs',
      new JobService({ config, queue, repository, waiters, metrics, webhooks, fetching: urlJobs }),
    );
    app.decorate('readinessChecks', {
      redis: () => redis.ping(),
      mongo: () => repository.ping(),
    });

    // Every route registered after this plugin: shutdown waits for its running handlers.
    const inFlight = new InFlightTracker();
    app.addHook('onRoute', (route) => {
      const handler = route.handler;
      route.handler = function (request, reply) {
        return inFlight.track(() => handler.call(this, request, reply));
      };
    });

    // Before the server waits for open requests: long-polls answer now instead of running out
    // (gracefulClosePlugin then ends their keep-alive connections after the answer).
    app.addHook('preClose', async () => waiters.stop());
    app.addHook('onClose', async () => {
      // A woken long-poll still reads its job's state; closing Redis under it would answer 503.
      // Sync predicts wait for their answers meanwhile; those the drain does not see answered
      // get their job's state, as long-polls did.
      if (!(await inFlight.drained(DRAIN_TIMEOUT_MS))) {
        waiters.stop({ all: true });
        if (!(await inFlight.drained(STATE_READ_MS))) {
          app.log.warn({ inFlight: inFlight.size }, 'closing with requests still running');
        }
      }
      await events.close();
      await queue.close();
      await webhooks.close();
      await urlJobs.close();
      await repository.close();
      redis.disconnect();
    });
  },
  { name: 'backends', dependencies: ['metrics'] },
);
