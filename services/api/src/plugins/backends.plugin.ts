import {
  type AppConfig,
  ClassifyQueue,
  type ClassifyResult,
  createRedis,
  PredictionRepository,
  QUEUE_DEPTH_STATES,
  type ReadinessChecks,
} from '@imagerec/shared';
import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { JobService } from '../jobs/job.service.js';
import { JobWaiters } from '../jobs/job-waiters.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig;
    jobs: JobService;
    repository: PredictionRepository;
    /** Throws when Redis or MongoDB does not answer. */
    checkBackends: () => Promise<void>;
    /** What /readyz checks, by name. */
    readinessChecks: ReadinessChecks;
    /** The classify queue, for the queue dashboard. */
    classifyQueue: ClassifyQueue;
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
    const queue = new ClassifyQueue(redis, config.queue);
    const repository = await PredictionRepository.connect(config);
    const waiters = new JobWaiters();
    const events = new QueueEvents(config.queue.name, {
      connection: createRedis(config.redis.url),
    });
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
    app.decorate('jobs', new JobService({ config, queue, repository, waiters, metrics }));
    app.decorate('checkBackends', async () => {
      await Promise.all([redis.ping(), repository.ping()]);
    });
    app.decorate('readinessChecks', {
      redis: () => redis.ping(),
      mongo: () => repository.ping(),
    });

    // Before the server waits for open requests: long-polls answer now instead of running out.
    app.addHook('preClose', async () => waiters.stop());
    app.addHook('onClose', async () => {
      await events.close();
      await queue.close();
      await repository.close();
      redis.disconnect();
    });
  },
  { name: 'backends', dependencies: ['metrics'] },
);
