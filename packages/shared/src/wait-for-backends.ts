import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import type { AppConfig } from './config.js';
import { errorMessage } from './errors.js';

/** A service the API or a worker cannot start without, and how to tell it answers. */
export interface Backend {
  name: string;
  /** Where it is expected, without credentials. */
  target: string;
  check: () => Promise<void>;
}

/** The part of a pino logger the wait uses. */
export interface WaitLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface WaitOptions {
  log: WaitLog;
  initialDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Delay before retry number `attempt` (1-based): doubling from the first delay up to the cap. */
export const backoffDelay = (attempt: number, initialMs: number, maxMs: number) =>
  Math.min(maxMs, initialMs * 2 ** (attempt - 1));

/** A connection URL as it may be logged: scheme, host, port and path, never the credentials. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Waits until every backend answers, one after the other, retrying with backoff. Each failed
 * attempt logs one line naming what is awaited and why; it never gives up, as a container
 * started before its backends should simply start later.
 */
export async function waitForBackends(backends: Backend[], opts: WaitOptions): Promise<void> {
  const initial = opts.initialDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 10_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (const backend of backends) {
    for (let attempt = 1; ; attempt++) {
      try {
        await backend.check();
        if (attempt > 1)
          opts.log.info(
            { dependency: backend.name, target: backend.target, attempts: attempt },
            `${backend.name} is reachable`,
          );
        break;
      } catch (err) {
        const retryInMs = backoffDelay(attempt, initial, max);
        opts.log.warn(
          {
            dependency: backend.name,
            target: backend.target,
            attempt,
            retryInMs,
            reason: errorMessage(err),
          },
          `waiting for ${backend.name} at ${backend.target}`,
        );
        await sleep(retryInMs);
      }
    }
  }
}

/** Redis answers PING with these credentials; one connection attempt, no reconnecting. */
export const redisBackend = (url: string): Backend => ({
  name: 'Redis',
  target: redactUrl(url),
  check: async () => {
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    // Failures surface through connect() and ping(); the event would only repeat them.
    redis.on('error', () => {});
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  },
});

/** MongoDB answers a ping, with authentication where the URL has credentials. */
export const mongoBackend = (url: string): Backend => ({
  name: 'MongoDB',
  target: redactUrl(url),
  check: async () => {
    const connection = await mongoose
      .createConnection(url, { serverSelectionTimeoutMS: 3000 })
      .asPromise();
    try {
      // A write needs an authenticated user where the server requires one; ping does not.
      await connection.db?.command({ listCollections: 1, nameOnly: true });
    } finally {
      await connection.close();
    }
  },
});

/** What the API and the workers need before they start: Redis, then MongoDB. */
export const backendsOf = (config: AppConfig): Backend[] => [
  redisBackend(config.redis.url),
  mongoBackend(config.mongo.url),
];
