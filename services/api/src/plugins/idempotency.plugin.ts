import { AppError, createRedis } from '@imagerec/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  IDEMPOTENCY_KEY_PATTERN,
  parseIdempotencyKey,
  requestFingerprint,
} from '../idempotency/idempotency.js';
import { IdempotencyStore } from '../idempotency/idempotency.store.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes an Idempotency-Key header. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    /** Set while this request holds its Idempotency-Key. */
    idempotency?: { scope: string; key: string; fingerprint: string; lock: string };
  }
}

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Set on an answer replayed from an earlier request under the same key. */
export const REPLAYED_HEADER = 'idempotent-replayed';
/** The headers of a first answer that its replays carry too. */
const KEPT_HEADERS = ['content-type', 'location'];

/** The header in a route's schema: validated there, and a parameter in the OpenAPI document. */
export const idempotencyKeyHeaders = {
  type: 'object',
  properties: {
    [IDEMPOTENCY_HEADER]: {
      type: 'string',
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description:
        'Makes a retry safe: the same key with the same request within the window answers ' +
        'the first answer again (header Idempotent-Replayed: true) without queueing again; ' +
        'with another request 422, while the first still runs 409. Scoped to the API key ' +
        '(the client address without keys).',
    },
  },
} as const;

/** Whose keys these are: one client's keys never meet another's. */
const scopeOf = (request: FastifyRequest) =>
  request.apiKeyId ? `key:${request.apiKeyId}` : `ip:${request.ip}`;

/**
 * Idempotency-Key on the routes whose config says `idempotent` (IETF httpapi
 * idempotency-key draft). Checked once the body is read and valid; a 2xx or 3xx answer is kept
 * for IDEMPOTENCY_TTL_S, an error answer frees the key so the client can retry.
 */
export const idempotencyPlugin = fp(
  async (app: FastifyInstance) => {
    const { config } = app;
    const redis = createRedis(config.redis.url, { failFast: true });
    redis.on('error', () => {
      // The request that needs it answers 503; ioredis reconnects by itself.
    });
    app.addHook('onClose', async () => {
      redis.disconnect();
    });
    const store = new IdempotencyStore(
      redis,
      `${config.queue.name}:idempotency`,
      config.api.idempotencyTtlS,
      // A synchronous predict may run this long; past it a crashed request frees its key.
      config.api.syncTimeoutMaxMs + 60_000,
    );

    app.addHook('preHandler', async (request, reply) => {
      const header = request.headers[IDEMPOTENCY_HEADER];
      if (!request.routeOptions.config.idempotent || typeof header !== 'string') return;
      const scope = scopeOf(request);
      const key = parseIdempotencyKey(header);
      const fingerprint = requestFingerprint({
        method: request.method,
        route: request.routeOptions.url ?? '',
        query: request.query,
        body: request.body,
      });
      const claim = await store.claim(scope, key, fingerprint);
      if (claim.kind === 'in-flight') throw new AppError('IDEMPOTENCY_KEY_IN_FLIGHT');
      if (claim.kind === 'reused') throw new AppError('IDEMPOTENCY_KEY_REUSED');
      if (claim.kind === 'replay') {
        const { status, headers, body } = claim.response;
        request.log.info({ idempotencyKey: key, status }, 'idempotent replay');
        return reply.status(status).headers(headers).header(REPLAYED_HEADER, 'true').send(body);
      }
      request.idempotency = { scope, key, fingerprint, lock: claim.lock };
    });

    app.addHook('onSend', async (request, reply, payload) => {
      const held = request.idempotency;
      if (!held) return payload;
      request.idempotency = undefined;
      const { scope, key, fingerprint, lock } = held;
      try {
        if (reply.statusCode >= 400) {
          await store.release(scope, key, fingerprint, lock);
          return payload;
        }
        const headers = Object.fromEntries(
          KEPT_HEADERS.flatMap((name) => {
            const value = reply.getHeader(name);
            return value === undefined ? [] : [[name, String(value)]];
          }),
        );
        const body = typeof payload === 'string' ? payload : payload == null ? '' : String(payload);
        await store.complete(scope, key, fingerprint, { status: reply.statusCode, headers, body });
      } catch (err) {
        // The answer still goes out: what it accepted stays accepted. The claim's lock runs out.
        request.log.warn({ err, idempotencyKey: key }, 'storing the idempotent answer failed');
      }
      return payload;
    });
  },
  { name: 'idempotency' },
);
