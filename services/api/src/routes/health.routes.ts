import { AppError } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../schemas/common.schema.js';

export async function healthRoutes(app: FastifyInstance) {
  app.get(
    '/health',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Ready when Redis and MongoDB answer',
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: { status: { type: 'string', enum: ['ok'] } },
            example: { status: 'ok' },
          },
          ...errorResponses(503),
        },
      },
    },
    async () => {
      try {
        await app.checkBackends();
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', undefined, { cause: err });
      }
      return { status: 'ok' as const };
    },
  );
}
