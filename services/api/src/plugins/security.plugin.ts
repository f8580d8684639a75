import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { AppError, createRedis, OPEN_PATHS } from '@imagerec/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HISTORY_STYLE_HASH, SIGN_IN_PATH } from '../views/history.page.js';
import { acceptsSession } from './session.plugin.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The id of the API key the request presented, when keys are configured. */
    apiKeyId?: string;
    /** The key came from the history page's session cookie, not a bearer header. */
    signedIn?: boolean;
  }
}

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

    const keys = app.apiKeys;
    /** The key a request presents: its bearer header, or on the browser's routes its session. */
    const presentedKey = (request: FastifyRequest) => {
      const id = keys.identify(request.headers.authorization);
      if (id || !acceptsSession(request)) return { id, session: false };
      const sessionId = app.browserSession.keyId(request);
      return { id: sessionId, session: sessionId !== null };
    };
    if (keys.enabled) {
      // preParsing: after the rate limit (onRequest), before an upload is read.
      app.addHook('preParsing', async (request, reply) => {
        if (
          OPEN_PATHS.has(pathOf(request)) ||
          request.routeOptions.schema?.security?.length === 0
        ) {
          return;
        }
        const { id, session } = presentedKey(request);
        if (!id) {
          // A browser opening the page: to the sign-in form rather than a bare 401.
          if (
            request.method === 'GET' &&
            pathOf(request) === '/' &&
            !request.headers.authorization
          ) {
            return reply.redirect(SIGN_IN_PATH, 303);
          }
          reply.header('www-authenticate', 'Bearer');
          throw new AppError('UNAUTHORIZED');
        }
        request.apiKeyId = id;
        request.signedIn = session;
        request.log.info({ apiKeyId: id, session }, 'authenticated');
      });
      // A browser sends its cookie with any form that posts here: a session's posts carry the
      // page's CSRF token (checked once the form is read, before the route does anything).
      app.addHook('preHandler', (request, reply, done) => {
        if (request.signedIn && request.method !== 'GET' && request.method !== 'HEAD') {
          return app.csrfProtection(request, reply, done);
        }
        done();
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
          const id = keys.enabled ? presentedKey(request).id : null;
          return id ? `key:${id}` : `ip:${request.ip}`;
        },
        errorResponseBuilder: (_request, context) =>
          new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${context.after}`),
      });
    }
  },
  { name: 'security' },
);
