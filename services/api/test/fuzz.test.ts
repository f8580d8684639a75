import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import fc from 'fast-check';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { useApi } from './support/api-harness.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What an upload may be answered: accepted, or one of the documented refusals. Never a 5xx. */
const DOCUMENTED = new Set([202, 400, 413, 415, 422]);
/** Uploads a round. */
const RUNS = 150;

/** Real pictures, small, in every format the API reads: the fuzzer's starting points. */
async function seeds(): Promise<Buffer[]> {
  const picture = sharp(readFileSync(join(IMAGES_DIR, 'parrot.jpg'))).resize(96);
  return [
    await picture.clone().jpeg().toBuffer(),
    await picture.clone().png().toBuffer(),
    await picture.clone().webp().toBuffer(),
    await picture.clone().gif().toBuffer(),
    await picture.clone().tiff().toBuffer(),
    await picture.clone().avif().toBuffer(),
    readFileSync(join(IMAGES_DIR, 'cat.bmp')),
  ];
}

type Mutation =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'fill'; at: number; length: number; byte: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('fill' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 4096 }),
    byte: fc.nat(255),
  }),
);

/** Mutations at offsets taken modulo the length, so each lands inside the file. */
function mutate(input: Buffer, mutations: Mutation[]): Buffer {
  let bytes = Buffer.from(input);
  for (const m of mutations) {
    const at = bytes.length > 0 ? m.at % bytes.length : 0;
    if (m.kind === 'set') bytes[at] = m.byte;
    else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
    else if (m.kind === 'insert') {
      bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    } else bytes.fill(m.byte, at, Math.min(bytes.length, at + m.length));
  }
  return bytes;
}

const heapAfterGc = () => {
  gc();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
};

describe('uploads fuzzed from real image bytes', () => {
  // Thousands of uploads from one client: the rate limit has tests of its own.
  const api = useApi({ RATE_LIMIT_MAX: '1000000' });
  let pictures: Buffer[];

  beforeAll(async () => {
    pictures = await seeds();
  });

  const upload = (bytes: Buffer) => api.post('/v1/jobs', [{ filename: 'fuzz.bin', bytes }]);

  it('answers every mutated upload with 202 or a documented 4xx, without growing memory', async () => {
    const property = fc.asyncProperty(
      fc.nat(pictures.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      async (which, mutations) => {
        const res = await upload(mutate(pictures[which] as Buffer, mutations));
        expect(DOCUMENTED.has(res.statusCode), `${res.statusCode} ${res.body}`).toBe(true);
        if (res.statusCode !== 202) expect(res.json().error.code).toMatch(/^[A-Z_]+$/);
      },
    );
    // Four rounds, different inputs each: the first two warm up what stays (JIT, pools, buffers
    // freed lazily), and memory must then level off rather than grow with the uploads.
    const after: number[] = [];
    for (let round = 0; round < 4; round++) {
      await fc.assert(property, { numRuns: RUNS, seed: 42 + round });
      after.push(heapAfterGc());
    }
    const grown = (after[3] ?? 0) - (after[1] ?? 0);
    expect(grown, `${(grown / 1e6).toFixed(1)} MB more after ${2 * RUNS} uploads`).toBeLessThan(
      16e6,
    );

    const good = await upload(pictures[0] as Buffer);
    expect(good.statusCode).toBe(202);
  }, 300_000);
});
