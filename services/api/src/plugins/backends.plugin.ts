import {
  type AppConfig,
  ClassifyQueue,
  type ClassifyResult,
  CloseStack,
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

/** The adapters, each registered to close, and the decorators over them; the job waiters. */
async function connect(app: FastifyInstance, closers: CloseStack): Promise<JobWaiters> {
  const { config, metrics } = app;
  const redis = closers.adopt(createRedis(config.redis.url, { failFast: true }), (r) =>
    r.disconnect(),
  );
  // ioredis reconnects by itself; requests meanwhile answer 503.
  redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'));
  const repository = closers.adopt(await PredictionRepository.connect(config), (r) => r.close());
  const queue = closers.adopt(new ClassifyQueue(redis, config.queue), (q) => q.close());
  const webhooks = closers.adopt(new WebhookQueue(redis, config.webhooks), (w) => w.close());
  const urlJobs = closers.adopt(
    new UrlJobService(redis, config, modelInfo(config.model.precision)),
    (u) => u.close(),
  );
  // Each BullMQ queue reads Redis's version as it starts: an app closed before that read
  // answered would leave it to fail unhandled.
  await Promise.all([queue.bull, webhooks.bull, urlJobs.queue].map((q) => q.waitUntilReady()));

  const waiters = new JobWaiters();
  const eventsConnection = createRedis(config.redis.url);
  eventsConnection.on('error', () => {
    // Reported once by QueueEvents' own error event below; ioredis reconnects by itself.
  });
  const events = closers.adopt(
    new QueueEvents(config.queue.name, { connection: eventsConnection }),
    (e) => e.close(),
  );
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

  metrics.trackQueue(() => queue.bull.getJobCounts(...QUEUE_DEPTH_STATES));
  app.decorate('repository', repository);
  app.decorate('classifyQueue', queue);
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
  return waiters;
}

/**
 * The adapters to Redis (queue, pixels, job events) and MongoDB (results), and the
 * job service over them. One QueueEvents subscription serves every waiting request.
 */
export const backendsPlugin = fp(
  async (app: FastifyInstance) => {
    // Released in reverse order on close, and also when start-up fails half-way.
    const closers = new CloseStack();
    const waiters = await connect(app, closers).catch(async (err) => {
      await closers.close();
      throw err;
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
      await closers.close();
    });
  },
  { name: 'backends', dependencies: ['metrics'] },
);
