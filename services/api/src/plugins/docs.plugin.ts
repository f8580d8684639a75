import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** OpenAPI 3 generated from the route schemas, at /docs (UI) and /docs/json. */
export const docsPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Image recognition API',
          description:
            'Upload a photo, get ImageNet labels from a pretrained MobileNetV2. Answers by job polling, ' +
            'long-polling, or a synchronous call with a timeout.',
          version: '1.0.0',
        },
        tags: [
          { name: 'jobs', description: 'Asynchronous classification' },
          { name: 'predict', description: 'Synchronous classification with a timeout' },
          { name: 'history', description: 'Past predictions' },
          { name: 'health', description: 'Liveness and readiness' },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  },
  { name: 'docs' },
);
