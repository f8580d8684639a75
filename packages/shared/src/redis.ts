import { once } from 'node:events';
import { type ChainableCommander, Redis } from 'ioredis';

/**
 * BullMQ's blocking clients (workers, queue events) need ioredis never to give up on a
 * request; a request path should fail fast instead, so a client hears 503, not silence.
 */
export const createRedis = (url: string, opts: { failFast?: boolean } = {}): Redis =>
  opts.failFast
    ? new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : new Redis(url, { maxRetriesPerRequest: null });

/** A fail-fast client that is connected: it refuses commands until then. */
export async function connectRedis(url: string, timeoutMs = 10_000): Promise<Redis> {
  const redis = createRedis(url, { failFast: true });
  try {
    await once(redis, 'ready', { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis at ${url} did not answer within ${timeoutMs} ms`, { cause: err });
  }
  return redis;
}

/** Runs a MULTI or a pipeline and throws the first command's error, which exec() only reports. */
export async function execChecked(multi: ChainableCommander): Promise<void> {
  const results = await multi.exec();
  const failed = results?.find(([err]) => err);
  if (!results || failed) throw failed?.[0] ?? new Error('Redis transaction was aborted');
}
