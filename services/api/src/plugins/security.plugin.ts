import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { AppError, createRedis, OpsPath } from '@imagerec/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiKeys } from '../security/api-keys.js';
import { HISTORY_STYLE_HASH } from '../views/history.page.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The id of the API key the request presented, when keys are configured. */
    apiKeyId?: string;
  }
}

/**
 * Probes, Prometheus and the autoscaler must reach these without a key and without counting
 * against a rate limit. nginx does not serve /metrics or /queue-depth: only the internal network
 * reaches them.
 */
const OPEN_PATHS = new Set<string>(Object.values(OpsPath));

const pathOf = (request: FastifyRequest) => request.url.split('?')[0] ?? '';

/**
 * Security headers (with a CSP the history page and Swagger UI work under), optional API keys,
 * and a rate limit per key (or per client IP without keys) kept in Redis, so it holds across
 * API replicas. Registered before every route.
 */
export const securityPlugin = fp(
  async (app: FastifyInstance) => {
    const { security, queue } = app.config;

    await app.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'", `'${HISTORY_STYLE_HASH}'`],
          imgSrc: ["'self'", 'data:'],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
          upgradeInsecureRequests: null,
        },
      },
    });

    const keys = new ApiKeys(security.apiKeys);
    if (keys.enabled) {
      // preParsing: after the rate limit (onRequest), before an upload is read.
      app.addHook('preParsing', async (request, reply) => {
        if (OPEN_PATHS.has(pathOf(request))) return;
        const id = keys.identify(request.headers.authorization);
        if (!id) {
          reply.header('www-authenticate', 'Bearer');
          throw new AppError('UNAUTHORIZED');
        }
        request.apiKeyId = id;
        request.log.info({ apiKeyId: id }, 'authenticated');
      });
    }

    if (security.rateLimit.max > 0) {
      const redis = createRedis(app.config.redis.url, { failFast: true });
      redis.on('error', () => {});
      app.addHook('onClose', async () => {
        redis.disconnect();
      });
      await app.register(rateLimit, {
        max: security.rateLimit.max,
        timeWindow: security.rateLimit.windowMs,
        redis,
        nameSpace: `${queue.name}:rate-limit:`,
        // Redis down: the request goes on and answers 503 where it needs Redis.
        skipOnError: true,
        allowList: (request) => OPEN_PATHS.has(pathOf(request)),
        keyGenerator: (request) => {
          const id = keys.enabled ? keys.identify(request.headers.authorization) : null;
          return id ? `key:${id}` : `ip:${request.ip}`;
        },
        errorResponseBuilder: (_request, context) =>
          new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${context.after}`),
      });
    }
  },
  { name: 'security' },
);
