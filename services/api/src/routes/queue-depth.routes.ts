import { OpsPath } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../schemas/common.schema.js';

const count = (description: string) => ({ type: 'integer', minimum: 0, description });

/**
 * The backlog workers scale on. BullMQ keeps prioritized jobs in a sorted set beside the wait
 * list, so a scaler reading the list alone (KEDA's redis trigger) misses them; this sums both.
 * Like /metrics it is for the internal network: nginx does not serve it.
 */
export async function queueDepthRoutes(app: FastifyInstance) {
  app.get(
    OpsPath.QueueDepth,
    {
      logLevel: 'warn',
      schema: {
        // Outside the OpenAPI document, as /metrics: clients reach the API through nginx only.
        hide: true,
        tags: ['health'],
        summary: 'Jobs waiting for a worker (internal: for autoscalers, not served by nginx)',
        response: {
          200: {
            description: 'Job counts of the classify queue',
            type: 'object',
            required: ['backlog', 'waiting', 'prioritized', 'active'],
            properties: {
              backlog: count('Jobs no worker has taken yet: waiting plus prioritized'),
              waiting: count('Jobs in the wait list'),
              prioritized: count('Jobs with a priority, kept apart from the wait list'),
              active: count('Jobs a worker is running now'),
            },
            example: { backlog: 42, waiting: 40, prioritized: 2, active: 8 },
          },
          ...errorResponses(503),
        },
      },
    },
    async () => {
      const {
        waiting = 0,
        prioritized = 0,
        active = 0,
      } = await app.classifyQueue.bull.getJobCounts('waiting', 'prioritized', 'active');
      return { backlog: waiting + prioritized, waiting, prioritized, active };
    },
  );
}
