import { testConfig } from '@imagerec/test-support/test-config';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRedis,
  DeliveryStatus,
  type WebhookJobData,
  WebhookJobName,
  WebhookQueue,
} from '../src/index.js';

const delivery = (jobId: string, more: Partial<WebhookJobData> = {}): WebhookJobData => ({
  jobId,
  callbackUrl: 'https://hooks.example.com/x',
  topK: 5,
  ...more,
});

/** The webhook producer against real Redis: what a finished batch leaves for the API to send. */
describe('WebhookQueue', () => {
  const config = testConfig({ WEBHOOK_BACKOFF_MS: '60000' });
  let redis: Redis;
  let queue: WebhookQueue;
  beforeAll(() => {
    redis = createRedis(config.redis.url);
    queue = new WebhookQueue(redis, config.webhooks);
  });
  afterAll(async () => {
    await queue.bull.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  });

  it('queues a batch once, however often it finishes, its deliveries pending until then', async () => {
    const batch = [delivery('a'), delivery('b')];
    await queue.enqueue(batch);
    await queue.enqueue(batch);
    const jobs = await queue.bull.getJobs(['waiting']);
    expect(jobs.map((j) => [j.name, j.data])).toEqual([
      [WebhookJobName.FirstAttempts, { deliveries: batch }],
    ]);
    expect(await queue.marked('b')).toEqual({
      id: 'b',
      status: DeliveryStatus.Pending,
      attempts: 0,
    });
    expect(await queue.marked('c')).toBeNull();
  });

  it('keeps a recorded outcome when the batch finishes again', async () => {
    const outcome = { status: DeliveryStatus.Delivered, attempts: 1, deliveredAt: 'then' };
    await queue.mark(['d'], outcome);
    await queue.enqueue([delivery('d')]);
    expect(await queue.marked('d')).toEqual({ id: 'd', ...outcome });
  });

  it('continues a failed delivery after the first backoff, and a dead letter at once', async () => {
    await queue.continue([
      delivery('e', { attemptsBefore: 1 }),
      delivery('f', { deadLetter: 'FETCH_REFUSED: no' }),
    ]);
    expect(await queue.bull.getJobState('e')).toBe('delayed');
    expect(await queue.bull.getJobState('f')).toBe('waiting');
    // Its own retries go on from where the batch's attempt left off: 2, 4, 8 ... backoffs.
    expect((await queue.bull.getJob('e'))?.opts.backoff).toEqual({
      type: 'exponential',
      delay: 2 * config.webhooks.backoffMs,
    });
  });
});
