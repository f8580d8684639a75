import { Redis } from 'ioredis';

/** BullMQ's blocking commands need ioredis never to give up on a request. */
export const createRedis = (url: string): Redis => new Redis(url, { maxRetriesPerRequest: null });
