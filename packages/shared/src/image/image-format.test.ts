import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../errors.js';
import { IMAGE_FORMATS } from '../queue/contract.js';
import { detectFormat, IMAGE_FORMAT_NAMES } from './image-format.js';

const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)),
  );
const u32be = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u32le = (n: number) => u32be(n).reverse();
const u16le = (n: number) => [n & 255, (n >>> 8) & 255];
const ftyp = (major: string, ...compatible: string[]) =>
  bytes(u32be(16 + 4 * compatible.length), 'ftyp', major, [0, 0, 0, 0], ...compatible);

/** File header and the start of a BITMAPINFOHEADER. */
const bmpHeader = (opts: { dibSize?: number; offset?: number; planes?: number; bpp?: number }) =>
  bytes(
    'BM',
    u32le(1000),
    [0, 0, 0, 0],
    u32le(opts.offset ?? 54),
    u32le(opts.dibSize ?? 40),
    u32le(2),
    u32le(2),
    u16le(opts.planes ?? 1),
    u16le(opts.bpp ?? 24),
    u32le(0),
  );

describe('detectFormat', () => {
  const recognised = [
    ['jpeg', bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10], 'JFIF')],
    ['png', bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d], 'IHDR')],
    ['gif', bytes('GIF87a', [1, 0, 1, 0])],
    ['gif', bytes('GIF89a', [1, 0, 1, 0])],
    ['webp', bytes('RIFF', u32le(100), 'WEBPVP8 ')],
    ['tiff', bytes('II', [0x2a, 0], u32le(8))],
    ['tiff', bytes('MM', [0, 0x2a], u32be(8))],
    ['avif', ftyp('avif', 'mif1', 'miaf')],
    ['avif', ftyp('avis', 'msf1')],
    ['avif', ftyp('mif1', 'miaf', 'avif')],
    ['bmp', bmpHeader({})],
    ['bmp', bmpHeader({ dibSize: 124, offset: 138, bpp: 32 })],
  ] as const;
  it.each(recognised)('recognises %s', (format, buf) => {
    expect(detectFormat(buf)).toBe(format);
  });

  it('recognises every format of the contract, and no other', () => {
    expect(new Set(recognised.map(([format]) => format))).toEqual(
      new Set(Object.keys(IMAGE_FORMATS)),
    );
  });

  it.each([
    ['an empty buffer', bytes()],
    ['a JPEG prefix too short', bytes([0xff, 0xd8])],
    ['a broken PNG signature', bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0b])],
    ['GIF90a', bytes('GIF90a')],
    ['a RIFF WAVE file', bytes('RIFF', u32le(100), 'WAVEfmt ')],
    ['a TIFF with mixed byte order', bytes('II', [0, 0x2a])],
    ['HEIC', ftyp('heic', 'mif1', 'heic')],
    ['HEIF with only mif1', ftyp('mif1', 'heic')],
    ['an MP4', ftyp('isom', 'iso2', 'mp41')],
    [
      'an ftyp box whose size cuts off the brand',
      bytes(u32be(16), 'ftypmif1', [0, 0, 0, 0], 'avif'),
    ],
    ['text starting with BM', bytes('BMW is a car maker, not an image format.')],
    ['a BMP with an unknown header size', bmpHeader({ dibSize: 41 })],
    ['a BMP with two planes', bmpHeader({ planes: 2 })],
    ['a BMP with 7 bits per pixel', bmpHeader({ bpp: 7 })],
    ['a BMP whose pixels start inside its header', bmpHeader({ offset: 20 })],
    ['random bytes', bytes([0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5])],
  ])('rejects %s', (_, buf) => {
    expect(detectFormat(buf)).toBeUndefined();
  });

  it('reads a Buffer that is a view into a larger pool', () => {
    const pool = Buffer.alloc(128, 0x20);
    pool.set(bmpHeader({}), 20);
    expect(detectFormat(pool.subarray(20, 80))).toBe('bmp');
    expect(detectFormat(pool.subarray(21, 80))).toBeUndefined();
  });
});

describe('IMAGE_FORMAT_NAMES', () => {
  const page = (path: string) =>
    readFileSync(new URL(`../../../../${path}`, import.meta.url), 'utf8');

  it("is the list UNSUPPORTED_FORMAT's message names, as the README and the usage page quote it", () => {
    expect(IMAGE_FORMAT_NAMES).toMatch(/^JPEG, PNG, .+ or BMP$/);
    const message = ERRORS.UNSUPPORTED_FORMAT.message;
    expect(page('README.md')).toContain(message);
    expect(page('docs/usage.md')).toContain(message);
    // The error catalog's row.
    expect(page('docs/usage.md')).toContain(`| not ${IMAGE_FORMAT_NAMES} | 415 |`);
  });
});
