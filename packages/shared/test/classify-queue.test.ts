import { testConfig } from '@imagerec/test-support/test-config';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClassifyJobData,
  ClassifyQueue,
  createRedis,
  JobPriority,
  type NewClassifyJob,
  pixelsKey,
} from '../src/index.js';

const job = (id: string, joinKey?: string): NewClassifyJob => ({
  id,
  data: {
    upload: { filename: `${id}.jpg`, sha256: id, byteSize: 1, width: 1, height: 1, format: 'jpeg' },
    thumbnail: '',
    topK: 5,
    acceptedAt: 0,
  } satisfies ClassifyJobData,
  pixels: Buffer.from(id),
  priority: JobPriority.Interactive,
  ...(joinKey && { joinKey }),
});

/** The classify producer against real Redis, with one upload (a sync predict) and several. */
describe('ClassifyQueue.enqueue', () => {
  const config = testConfig();
  let redis: Redis;
  let queue: ClassifyQueue;
  beforeAll(() => {
    redis = createRedis(config.redis.url);
    queue = new ClassifyQueue(redis, config.queue);
  });
  afterAll(async () => {
    await queue.bull.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  });

  const pixelsOf = (id: string) => redis.getBuffer(pixelsKey(config.queue.name, id));
  const ttlOf = (id: string) => redis.ttl(pixelsKey(config.queue.name, id));

  it.each([
    ['one upload', ['one']],
    ['several', ['two', 'three', 'four']],
  ])('%s: the pixels with their TTL, then the jobs under their own ids', async (_, ids) => {
    expect(await queue.enqueue(ids.map((id) => job(id)))).toEqual(ids);
    for (const id of ids) {
      expect((await pixelsOf(id))?.toString()).toBe(id);
      const ttl = await ttlOf(id);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(config.queue.pixelsTtlS);
      const queued = await queue.bull.getJob(id);
      expect(queued?.data.upload.filename).toBe(`${id}.jpg`);
      expect(queued?.opts.priority).toBe(JobPriority.Interactive);
    }
  });

  it.each([
    ['one upload', ['joiner-a']],
    ['several', ['joiner-b', 'joiner-c']],
  ])('%s joining a queued job: answered with its id, no pixels left behind', async (_, ids) => {
    const key = `same-bytes-${ids[0]}`;
    await queue.enqueue([job(`first-${ids[0]}`, key)]);
    expect(await queue.enqueue(ids.map((id) => job(id, key)))).toEqual(
      ids.map(() => `first-${ids[0]}`),
    );
    for (const id of ids) {
      expect(await pixelsOf(id)).toBeNull();
      expect(await queue.bull.getJob(id)).toBeUndefined();
    }
  });
});
