import type { Redis } from 'ioredis';
import { execChecked } from '../redis.js';

/** Redis key under which the API leaves a job's preprocessed pixels. */
export const pixelsKey = (queueName: string, jobId: string) => `${queueName}:pixels:${jobId}`;

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
    // A pipeline, not a transaction: each key stands alone, and MULTI/EXEC would cost two more commands.
    const pipeline = this.redis.pipeline();
    for (const { jobId, pixels } of entries) {
      pipeline.set(pixelsKey(this.queueName, jobId), pixels, 'EX', this.ttlS);
    }
    await execChecked(pipeline);
  }

  /** A whole batch's pixels in one round trip, in the order asked; null where missing. */
  getMany(jobIds: string[]): Promise<(Buffer | null)[]> {
    return this.redis.mgetBuffer(...jobIds.map((id) => pixelsKey(this.queueName, id)));
  }

  async deleteMany(jobIds: string[]): Promise<void> {
    if (jobIds.length > 0)
      await this.redis.del(...jobIds.map((id) => pixelsKey(this.queueName, id)));
  }
}
