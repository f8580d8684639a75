import { describe, expect, it } from 'vitest';
import { parseIdempotencyKey, requestFingerprint } from './idempotency.js';

const file = (filename: string, bytes: string) => ({
  type: 'file' as const,
  filename,
  _buf: Buffer.from(bytes),
});
const request = (body: unknown, query: unknown = { topK: 5 }) => ({
  method: 'POST',
  route: '/v1/jobs',
  query,
  body,
});

describe('requestFingerprint', () => {
  it('is the same for the same fields, files and query, whatever their key order', () => {
    const a = requestFingerprint(
      request({
        image: [file('a.png', 'A'), file('b.png', 'B')],
        note: { type: 'field', value: 1 },
      }),
    );
    const b = requestFingerprint(
      request({
        note: { type: 'field', value: 1 },
        image: [file('a.png', 'A'), file('b.png', 'B')],
      }),
    );
    expect(a).toBe(b);
  });

  it('differs by bytes, filename, file order, query, route and JSON body', () => {
    const prints = [
      request({ image: file('a.png', 'A') }),
      request({ image: file('a.png', 'B') }),
      request({ image: file('b.png', 'A') }),
      request({ image: [file('a.png', 'A'), file('b.png', 'B')] }),
      request({ image: [file('b.png', 'B'), file('a.png', 'A')] }),
      request({ image: file('a.png', 'A') }, { topK: 3 }),
      { ...request({ image: file('a.png', 'A') }), route: '/v1/predict' },
      request({ urls: ['https://example.com/a.png'] }),
      request({ urls: ['https://example.com/b.png'] }),
    ].map(requestFingerprint);
    expect(new Set(prints).size).toBe(prints.length);
  });
});

describe('parseIdempotencyKey', () => {
  it('takes the sf-string form and the bare token alike', () => {
    expect(parseIdempotencyKey('"8e03978e"')).toBe('8e03978e');
    expect(parseIdempotencyKey('8e03978e')).toBe('8e03978e');
  });
});
