import { createHash } from 'node:crypto';

/** The header's value: an sf-string per the IETF draft (`"..."`); a bare token is taken too. */
export const IDEMPOTENCY_KEY_PATTERN = '^("[!-~]{1,255}"|[!-~]{1,255})$';

/** The key without the quotes of its sf-string form. */
export function parseIdempotencyKey(header: string): string {
  return header.length >= 2 && header.startsWith('"') && header.endsWith('"')
    ? header.slice(1, -1)
    : header;
}

/** A multipart part as @fastify/multipart attaches it to the body (read into memory). */
interface Part {
  type: 'file' | 'field';
  filename?: string;
  value?: unknown;
  _buf?: Buffer | null;
}

const isPart = (v: unknown): v is Part =>
  typeof v === 'object' &&
  v !== null &&
  ((v as Part).type === 'file' || (v as Part).type === 'field');

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** A value with object keys sorted and every part replaced by what it carries. */
function canonical(value: unknown): unknown {
  if (isPart(value)) {
    return value.type === 'file'
      ? { filename: value.filename, sha256: sha256(value._buf ?? Buffer.alloc(0)) }
      : { value: value.value };
  }
  if (Buffer.isBuffer(value)) return { sha256: sha256(value) };
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export interface FingerprintInput {
  method: string;
  /** The route's path pattern. */
  route: string;
  /** The parsed query (defaults applied). */
  query: unknown;
  /** The parsed body: multipart parts (files read) or JSON. */
  body: unknown;
}

/**
 * What makes two requests "the same" for a key: method, route, query parameters and the body's
 * fields by name, files by filename and SHA-256 of their bytes. The multipart boundary, part
 * headers and field order across names do not count.
 */
export function requestFingerprint(input: FingerprintInput): string {
  return sha256(JSON.stringify(canonical(input)));
}
