// Container health check of the worker image: healthy while this container holds a BullMQ
// worker connection on the queue, i.e. the worker process is up and attached to Redis.
// (The worker writes no heartbeat of its own; this asks Redis for the queue's worker clients.)
import { networkInterfaces } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

// Unreachable Redis means unhealthy, and soon, not when the check's timeout kills it.
setTimeout(() => process.exit(1), 5000).unref();
const ownAddresses = new Set(
  Object.values(networkInterfaces())
    .flat()
    .map((i) => i?.address),
);
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: 1,
});
const queue = new Queue(process.env.QUEUE_NAME ?? 'classify', { connection: redis });
try {
  const workers = await queue.getWorkers();
  const host = (addr) => addr?.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  process.exitCode = workers.some((w) => ownAddresses.has(host(w.addr))) ? 0 : 1;
} catch {
  process.exitCode = 1;
} finally {
  await queue.close();
  redis.disconnect();
}
