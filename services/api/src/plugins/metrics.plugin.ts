import {
  MetricLabel,
  OpsPath,
  ServiceMetrics,
  ServiceName,
  UNMATCHED_ROUTE,
} from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServiceMetrics;
  }
}

/**
 * Prometheus metrics of this API process at GET /metrics, and the duration of every request
 * by route pattern (not by URL, so ids do not multiply the series) and status.
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance) => {
    const metrics = new ServiceMetrics(ServiceName.Api);
    app.decorate('metrics', metrics);

    app.addHook('onResponse', async (request, reply) => {
      metrics.httpRequestDuration.observe(
        {
          [MetricLabel.Method]: request.method,
          [MetricLabel.Route]: request.routeOptions.url ?? UNMATCHED_ROUTE,
          [MetricLabel.StatusCode]: reply.statusCode,
        },
        reply.elapsedTime / 1000,
      );
    });

    app.get(
      OpsPath.Metrics,
      {
        logLevel: 'warn',
        schema: {
          // For Prometheus on the internal network, not for clients: nginx does not serve it.
          hide: true,
          tags: ['health'],
          summary: 'Prometheus metrics of this API process',
          produces: ['text/plain'],
          response: { 200: { description: 'Prometheus text format', type: 'string' } },
        },
      },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
    );
  },
  { name: 'metrics' },
);
