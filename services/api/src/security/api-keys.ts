import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The configured API keys. A presented key is compared with every configured one in constant
 * time (digests of equal length, no early exit), so timing tells nothing about near misses.
 * Keys are known by their id in logs and rate-limit buckets; the secret itself is never shown.
 */
export class ApiKeys {
  private readonly keys: { id: string; digest: Buffer }[];

  constructor(keys: { id: string | null; secret: string }[]) {
    this.keys = keys.map(({ id, secret }) => ({
      id: id ?? `key-${digest(secret).toString('hex').slice(0, 8)}`,
      digest: digest(secret),
    }));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The id of the key in `Authorization: Bearer <key>`, or null when it names none. */
  identify(authorization: string | undefined): string | null {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return match?.[1] ? this.identifySecret(match[1]) : null;
  }

  /** The id of the key whose secret is `secret` (the history page's sign-in form), or null. */
  identifySecret(secret: string): string | null {
    if (!secret) return null;
    const presented = digest(secret);
    let found: string | null = null;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, presented) && found === null) found = key.id;
    }
    return found;
  }

  /** Whether a key of this id is still configured (a signed-in browser names its key's id). */
  has(id: string): boolean {
    return this.keys.some((key) => key.id === id);
  }
}
