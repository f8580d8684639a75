import type { ChainableCommander, Redis } from 'ioredis';
import type { Prediction } from '../queue/contract.js';

export interface CacheEntry {
  modelVersion: string;
  sha256: string;
  predictions: Prediction[];
}

/**
 * Predictions by content (model version and SHA-256 of the upload), in Redis under a TTL: the
 * check made on every upload is one GET, whatever the size of the history.
 */
export class ResultCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlS: number,
  ) {}

  private key(modelVersion: string, sha256: string) {
    return `${this.prefix}:${modelVersion}:${sha256}`;
  }

  async get(modelVersion: string, sha256: string): Promise<Prediction[] | null> {
    const text = await this.redis.get(this.key(modelVersion, sha256));
    return text === null ? null : (JSON.parse(text) as Prediction[]);
  }

  /**
   * Queues the entries on a pipeline of the caller's. Where the content is cached already, the
   * first answer stays (and keeps its expiry).
   */
  putTo(batch: ChainableCommander, entries: CacheEntry[]): ChainableCommander {
    for (const { modelVersion, sha256, predictions } of entries) {
      batch.set(this.key(modelVersion, sha256), JSON.stringify(predictions), 'EX', this.ttlS, 'NX');
    }
    return batch;
  }

  /** Removes every entry under this prefix (tests, and dropping a database). */
  async clear(): Promise<void> {
    const stream = this.redis.scanStream({ match: `${this.prefix}:*`, count: 1000 });
    for await (const keys of stream as AsyncIterable<string[]>) {
      if (keys.length > 0) await this.redis.del(...keys);
    }
  }
}
