import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../schemas/common.schema.js';
import { deliveryViewSchema } from '../schemas/outbound.schema.js';
import { idParams } from './jobs.routes.js';

export async function webhookRoutes(app: FastifyInstance) {
  app.post<{ Params: { id: string } }>(
    '/v1/jobs/:id/webhook/retry',
    {
      schema: {
        tags: ['jobs'],
        summary: "Retry a job's dead-lettered webhook (an operator's call)",
        description:
          'A delivery that failed all its attempts starts a new series of attempts under the same ' +
          'webhook-id. Needs an API key where keys are configured; bull-board retries it too.',
        params: idParams,
        response: {
          202: {
            type: 'object',
            required: ['webhook'],
            properties: { webhook: deliveryViewSchema },
          },
          ...errorResponses(400, 404, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const webhook = await app.webhooks.retry(request.params.id);
      return reply.status(202).send({ webhook });
    },
  );
}
