import { AppError, checkReadiness, OpsPath } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../schemas/common.schema.js';

const okSchema = (description: string, checks: boolean) => ({
  description,
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ok'] },
    ...(checks && {
      checks: {
        type: 'object',
        additionalProperties: { type: 'boolean' },
        description: 'Each dependency by name: true when it answered',
      },
    }),
  },
});

export async function healthRoutes(app: FastifyInstance) {
  app.get(
    OpsPath.Live,
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Live: the process is up and answering',
        response: { 200: okSchema('Up', false) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const ready = async () => {
    const { ready, checks } = await checkReadiness(app.readinessChecks);
    if (!ready) {
      const failing = Object.keys(checks).filter((name) => !checks[name]);
      throw new AppError('SERVICE_UNAVAILABLE', `Not ready: ${failing.join(', ')} unreachable`);
    }
    return { status: 'ok' as const, checks };
  };
  const readySchema = (summary: string) => ({
    logLevel: 'warn' as const,
    schema: {
      tags: ['health'],
      summary,
      response: { 200: okSchema('Ready', true), ...errorResponses(503) },
    },
  });
  app.get(OpsPath.Ready, readySchema('Ready: Redis and MongoDB answer'), ready);
  app.get(OpsPath.LegacyHealth, readySchema('Same as /readyz (kept for older probes)'), ready);
}
