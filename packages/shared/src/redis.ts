import { Redis } from 'ioredis';

/**
 * BullMQ's blocking clients (workers, queue events) need ioredis never to give up on a
 * request; a request path should fail fast instead, so a client hears 503, not silence.
 */
export const createRedis = (url: string, opts: { failFast?: boolean } = {}): Redis =>
  opts.failFast
    ? new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : new Redis(url, { maxRetriesPerRequest: null });
