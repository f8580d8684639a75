import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** The first answer given under a key, replayed as it was. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Entry {
  fingerprint: string;
  /** Set while the first request runs; identifies its lock. */
  lock?: string;
  response?: StoredResponse;
}

export type Claim =
  | { kind: 'owner'; lock: string }
  | { kind: 'in-flight' }
  | { kind: 'reused' }
  | { kind: 'replay'; response: StoredResponse };

/** Deletes the key only if it still holds the caller's lock. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Idempotency keys in Redis, shared by every API replica. A request claims its key with SET NX
 * (an in-flight entry under a lock TTL), then leaves its answer under the key for `ttlS`.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlS: number,
    /** How long an in-flight claim holds if its request never finishes (a crashed process). */
    private readonly lockMs: number,
  ) {}

  private key(scope: string, key: string) {
    return `${this.prefix}:${scope}:${key}`;
  }

  async claim(scope: string, key: string, fingerprint: string): Promise<Claim> {
    const redisKey = this.key(scope, key);
    const lock = randomUUID();
    const entry = JSON.stringify({ fingerprint, lock } satisfies Entry);
    // A claim that expires between the SET and the GET is tried again.
    for (;;) {
      if ((await this.redis.set(redisKey, entry, 'PX', this.lockMs, 'NX')) === 'OK') {
        return { kind: 'owner', lock };
      }
      const text = await this.redis.get(redisKey);
      if (text === null) continue;
      const found = JSON.parse(text) as Entry;
      if (found.fingerprint !== fingerprint) return { kind: 'reused' };
      if (!found.response) return { kind: 'in-flight' };
      return { kind: 'replay', response: found.response };
    }
  }

  /** Keeps the answer for the window; from now on the key replays it. */
  async complete(
    scope: string,
    key: string,
    fingerprint: string,
    response: StoredResponse,
  ): Promise<void> {
    const entry: Entry = { fingerprint, response };
    await this.redis.set(this.key(scope, key), JSON.stringify(entry), 'EX', this.ttlS);
  }

  /** Frees the key after an answer that is not kept (an error): the client may try again. */
  async release(scope: string, key: string, fingerprint: string, lock: string): Promise<void> {
    const entry = JSON.stringify({ fingerprint, lock } satisfies Entry);
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key(scope, key), entry);
  }
}
