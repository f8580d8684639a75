import type { Redis } from 'ioredis';
import { pixelsKey } from './queue.js';
import { execMulti } from './redis.js';

/**
 * The preprocessed 224x224 RGB bytes of queued jobs, kept in Redis beside the queue
 * (binary-safe, with a TTL) so job payloads stay small JSON.
 */
export class PixelStore {
  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
    private readonly ttlS: number,
  ) {}

  async putMany(entries: { jobId: string; pixels: Buffer }[]): Promise<void> {
    const multi = this.redis.multi();
    for (const { jobId, pixels } of entries) {
      multi.set(pixelsKey(this.queueName, jobId), pixels, 'EX', this.ttlS);
    }
    await execMulti(multi);
  }

  get(jobId: string): Promise<Buffer | null> {
    return this.redis.getBuffer(pixelsKey(this.queueName, jobId));
  }

  async deleteMany(jobIds: string[]): Promise<void> {
    if (jobIds.length > 0)
      await this.redis.del(...jobIds.map((id) => pixelsKey(this.queueName, id)));
  }
}
