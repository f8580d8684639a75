import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PIXELS } from '../config.js';
import { AppError } from '../errors.js';
import { MODEL_SPEC } from '../model-spec.js';
import { detectFormat } from './image-format.js';
import { prepareUpload, thumbnailSize, toModelInput } from './preprocess.js';

const IMAGES = fileURLToPath(new URL('../../../../../shared/images/', import.meta.url));
const image = (name: string) => readFileSync(`${IMAGES}${name}`);
const SIZE = MODEL_SPEC.inputSize;
const opts = { maxPixels: DEFAULT_MAX_PIXELS };

type Rgb = [number, number, number];
type Rgba = [number, number, number, number];

const at = (pixels: Buffer, x: number, y: number): Rgb => {
  const i = (y * SIZE + x) * 3;
  return [pixels[i] as number, pixels[i + 1] as number, pixels[i + 2] as number];
};

const meanAbsDiff = (a: Buffer, b: Buffer) => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
};

const expectColour = (actual: Rgb, expected: Rgb, tolerance = 1) => {
  for (let c = 0; c < 3; c++) {
    expect(
      Math.abs((actual[c] ?? 0) - (expected[c] ?? 0)),
      `${actual} vs ${expected}`,
    ).toBeLessThanOrEqual(tolerance);
  }
};

async function expectAppError(promise: Promise<unknown>, code: string, status: number) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ code, status });
  return err as AppError;
}

/** A width x height raw image whose top half is `top` and bottom half `bottom`. */
function halves(width: number, height: number, top: Rgba, bottom: Rgba) {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(y < height / 2 ? top : bottom, (y * width + x) * 4);
  }
  return sharp(data, { raw: { width, height, channels: 4 } });
}

/** A smooth colour gradient, so lossy formats stay close to the lossless ones. */
function gradient(width: number, height: number) {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([(x * 255) / width, (y * 255) / height, 128], (y * width + x) * 3);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

interface BmpOptions {
  bpp: 8 | 24 | 32;
  topDown?: boolean;
  /** Unused bytes between the headers and the pixels. */
  gap?: number;
  compression?: number;
}

/** Writes a BMP by hand so the decoder is checked against the format, not against itself. */
function makeBmp(
  width: number,
  height: number,
  colourAt: (x: number, y: number) => Rgba,
  { bpp, topDown = false, gap = 0, compression }: BmpOptions,
): Buffer {
  const dibSize = bpp === 32 ? 124 : 40;
  const palette: Rgba[] = [];
  if (bpp === 8) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const c = colourAt(x, y);
        if (!palette.some((p) => p.join() === c.join())) palette.push(c);
      }
    }
  }
  const rowBytes = Math.ceil((bpp * width) / 32) * 4;
  const pixelOffset = 14 + dibSize + palette.length * 4 + gap;
  const buf = Buffer.alloc(pixelOffset + rowBytes * height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(pixelOffset, 10);
  buf.writeUInt32LE(dibSize, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(topDown ? -height : height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(bpp, 28);
  buf.writeUInt32LE(compression ?? (bpp === 32 ? 3 : 0), 30);
  buf.writeUInt32LE(rowBytes * height, 34);
  buf.writeUInt32LE(palette.length, 46);
  if (bpp === 32) {
    [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000].forEach((mask, i) => {
      buf.writeUInt32LE(mask, 54 + 4 * i);
    });
    buf.write('sRGB', 70, 'latin1');
  }
  palette.forEach(([r, g, b], i) => {
    buf.set([b, g, r, 0], 14 + dibSize + 4 * i);
  });
  for (let row = 0; row < height; row++) {
    const y = topDown ? row : height - 1 - row;
    for (let x = 0; x < width; x++) {
      const c = colourAt(x, y);
      const [r, g, b, a] = c;
      const o = pixelOffset + row * rowBytes + (x * bpp) / 8;
      if (bpp === 8) buf[o] = palette.findIndex((p) => p.join() === c.join());
      else buf.set(bpp === 24 ? [b, g, r] : [b, g, r, a], o);
    }
  }
  return buf;
}

const ORANGE: Rgba = [200, 100, 50, 255];
const SKY: Rgba = [10, 150, 250, 255];
const CLEAR: Rgba = [0, 0, 0, 0];
const splitColour = (height: number) => (_x: number, y: number) => (y < height / 2 ? ORANGE : SKY);
const rgb = (c: Rgba): Rgb => [c[0], c[1], c[2]];

describe('prepareUpload', () => {
  it.each([
    ['jpeg', (s: Sharp) => s.jpeg({ quality: 95 })],
    ['png', (s: Sharp) => s.png()],
    ['webp', (s: Sharp) => s.webp({ quality: 95 })],
    ['gif', (s: Sharp) => s.gif()],
    ['tiff', (s: Sharp) => s.tiff()],
    ['avif', (s: Sharp) => s.avif({ quality: 90 })],
  ] as const)('reads %s', async (format, encode) => {
    const reference = await prepareUpload(await gradient(64, 48).png().toBuffer(), opts);
    const result = await prepareUpload(await encode(gradient(64, 48)).toBuffer(), opts);
    expect(result).toMatchObject({ format, width: 64, height: 48 });
    expect(result.pixels).toHaveLength(MODEL_SPEC.inputBytes);
    expect(meanAbsDiff(result.pixels, reference.pixels)).toBeLessThan(8);
  });

  it('reads the BMP test image like its PNG twin', async () => {
    const bmp = await prepareUpload(image('cat.bmp'), opts);
    const png = await prepareUpload(image('cat.png'), opts);
    expect(bmp).toMatchObject({ format: 'bmp', width: 512, height: 341 });
    expect(bmp.pixels).toHaveLength(MODEL_SPEC.inputBytes);
    expect(meanAbsDiff(bmp.pixels, png.pixels)).toBeLessThan(0.5);
  });

  it('reads the JPEG test images', async () => {
    await expect(prepareUpload(image('parrot.jpg'), opts)).resolves.toMatchObject({
      format: 'jpeg',
      width: 512,
      height: 929,
    });
    await expect(prepareUpload(image('cat_720p.jpg'), opts)).resolves.toMatchObject({
      width: 1280,
      height: 720,
    });
  });

  describe('BMP colours and row order', () => {
    it.each([
      ['24-bit bottom-up, padded rows', { bpp: 24 }, 15],
      ['24-bit top-down', { bpp: 24, topDown: true }, 16],
      ['8-bit palette, odd width', { bpp: 8 }, 7],
      ['32-bit bit fields', { bpp: 32 }, 9],
      ['24-bit with a gap before the pixels', { bpp: 24, gap: 10 }, 6],
    ] as const)('%s', async (_, bmpOpts, width) => {
      const file = makeBmp(width, 16, splitColour(16), bmpOpts);
      const { pixels, format } = await prepareUpload(file, opts);
      expect(format).toBe('bmp');
      expectColour(at(pixels, 112, 10), rgb(ORANGE));
      expectColour(at(pixels, 3, 100), rgb(ORANGE));
      expectColour(at(pixels, 112, 210), rgb(SKY));
      expectColour(at(pixels, 220, 130), rgb(SKY));
    });

    it('flattens 32-bit alpha on white', async () => {
      const file = makeBmp(8, 8, (_x, y) => (y < 4 ? ORANGE : CLEAR), { bpp: 32 });
      const { pixels } = await prepareUpload(file, opts);
      expectColour(at(pixels, 112, 10), rgb(ORANGE));
      expectColour(at(pixels, 112, 210), [255, 255, 255]);
    });

    it('treats an all-zero alpha field as unused', async () => {
      const file = makeBmp(8, 8, (_x, y) => (y < 4 ? [1, 2, 3, 0] : [200, 100, 50, 0]), {
        bpp: 32,
      });
      const { pixels } = await prepareUpload(file, opts);
      expectColour(at(pixels, 112, 10), [1, 2, 3]);
      expectColour(at(pixels, 112, 210), [200, 100, 50]);
    });

    it('refuses a truncated BMP', async () => {
      const file = makeBmp(16, 16, splitColour(16), { bpp: 24 });
      const err = await expectAppError(
        prepareUpload(file.subarray(0, file.length - 10), opts),
        'UNDECODABLE_IMAGE',
        422,
      );
      expect(err.message).toMatch(/BMP.*truncated/);
    });

    it('refuses RLE compression, which it cannot decode', async () => {
      const file = makeBmp(8, 8, splitColour(8), { bpp: 8, compression: 1 });
      await expectAppError(prepareUpload(file, opts), 'UNSUPPORTED_FORMAT', 415);
    });
  });

  it('flattens transparent pixels on white', async () => {
    const file = await halves(20, 20, CLEAR, [0, 255, 0, 255]).png().toBuffer();
    const { pixels } = await prepareUpload(file, opts);
    expectColour(at(pixels, 112, 10), [255, 255, 255]);
    expectColour(at(pixels, 112, 210), [0, 255, 0]);
  });

  it.each([
    ['8-bit', 'b-w'],
    ['16-bit', 'grey16'],
  ] as const)('expands %s grayscale to three equal channels', async (_, space) => {
    const file = await gradient(40, 30).toColourspace(space).png().toBuffer();
    const meta = await sharp(file).metadata();
    expect(meta.channels).toBe(1);
    const { pixels } = await prepareUpload(file, opts);
    expect(pixels).toHaveLength(MODEL_SPEC.inputBytes);
    let unequal = 0;
    const levels = new Set<number>();
    for (let i = 0; i < pixels.length; i += 3) {
      if (pixels[i] !== pixels[i + 1] || pixels[i] !== pixels[i + 2]) unequal++;
      levels.add(pixels[i] as number);
    }
    expect(unequal).toBe(0);
    expect(levels.size).toBeGreaterThan(10);
  });

  it('reduces 16-bit RGB to 8-bit', async () => {
    const file = await gradient(40, 30).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(file).metadata()).depth).toBe('ushort');
    const eightBit = await prepareUpload(await gradient(40, 30).png().toBuffer(), opts);
    const { pixels } = await prepareUpload(file, opts);
    expect(meanAbsDiff(pixels, eightBit.pixels)).toBeLessThan(1);
  });

  it('applies EXIF orientation and reports the turned size', async () => {
    // Stored 60 wide, 40 high, left orange and right sky; orientation 6 turns it clockwise.
    const data = Buffer.alloc(60 * 40 * 3);
    for (let i = 0; i < 60 * 40; i++) data.set(rgb(i % 60 < 30 ? ORANGE : SKY), i * 3);
    const file = await sharp(data, { raw: { width: 60, height: 40, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const result = await prepareUpload(file, opts);
    expect(result).toMatchObject({ width: 40, height: 60 });
    expectColour(at(result.pixels, 112, 20), rgb(ORANGE), 12);
    expectColour(at(result.pixels, 112, 200), rgb(SKY), 12);
  });

  it.each([
    // A PNG cut in its last few bytes loses only the IEND chunk, and all its pixels are there.
    ['PNG', 'cat.png', 100],
    ['JPEG', 'parrot.jpg', 2],
  ])('refuses a truncated %s', async (_, name, tailCut) => {
    const file = image(name);
    for (const length of [Math.floor(file.length / 2), file.length - tailCut]) {
      const err = await expectAppError(
        prepareUpload(file.subarray(0, length), opts),
        'UNDECODABLE_IMAGE',
        422,
      );
      expect(err.message).toMatch(/could not be decoded/);
    }
  });

  it('refuses a file whose header is all there is', async () => {
    const header = image('cat.png').subarray(0, 40);
    await expectAppError(prepareUpload(header, opts), 'UNDECODABLE_IMAGE', 422);
  });

  it('refuses random bytes as an unsupported format', async () => {
    const bytes = randomBytes(4096);
    bytes[0] = 0; // no signature of ours starts with 0 except AVIF's, which needs 'ftyp' next
    await expectAppError(prepareUpload(bytes, opts), 'UNSUPPORTED_FORMAT', 415);
    await expectAppError(toModelInput(bytes), 'UNSUPPORTED_FORMAT', 415);
  });

  it('refuses a PNG whose header declares too many pixels, before decoding it', async () => {
    // A 1x1 PNG claiming 100000x100000: decoding it would fail, so TOO_MANY_PIXELS proves
    // the header was checked first.
    const file = Buffer.from(await halves(1, 1, ORANGE, ORANGE).png().toBuffer());
    file.writeUInt32BE(100_000, 16);
    file.writeUInt32BE(100_000, 20);
    file.writeUInt32BE(crc32(file.subarray(12, 29)), 29);
    const err = await expectAppError(prepareUpload(file, opts), 'TOO_MANY_PIXELS', 422);
    expect(err.message).toContain('100000x100000');
  });

  it('refuses a small file that decodes to a huge image', async () => {
    const file = await sharp({
      create: { width: 10_000, height: 10_000, channels: 3, background: '#fff' },
    })
      .png()
      .toBuffer();
    expect(file.length).toBeLessThan(1_000_000);
    await expectAppError(prepareUpload(file, opts), 'TOO_MANY_PIXELS', 422);
  });

  it('refuses a BMP whose header declares too many pixels, before allocating them', async () => {
    const file = makeBmp(2, 2, splitColour(2), { bpp: 24 });
    file.writeInt32LE(100_000, 18);
    file.writeInt32LE(100_000, 22);
    await expectAppError(prepareUpload(file, opts), 'TOO_MANY_PIXELS', 422);
  });

  it('applies the pixel limit inclusively', async () => {
    const file = image('cat.png');
    await expect(prepareUpload(file, { maxPixels: 512 * 341 })).resolves.toBeDefined();
    await expectAppError(prepareUpload(file, { maxPixels: 512 * 341 - 1 }), 'TOO_MANY_PIXELS', 422);
    await expectAppError(toModelInput(file, { maxPixels: 1000 }), 'TOO_MANY_PIXELS', 422);
  });

  it('makes a WebP thumbnail that fits the box', async () => {
    const { thumbnail } = await prepareUpload(image('cat.png'), opts);
    expect(detectFormat(thumbnail)).toBe('webp');
    const meta = await sharp(thumbnail).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 128, height: 85 });

    const tall = await prepareUpload(image('parrot.jpg'), { ...opts, thumbnailSize: 64 });
    expect(await sharp(tall.thumbnail).metadata()).toMatchObject({ width: 35, height: 64 });

    const tiny = await prepareUpload(await gradient(30, 20).png().toBuffer(), opts);
    expect(await sharp(tiny.thumbnail).metadata()).toMatchObject({ width: 30, height: 20 });
  });
});

describe('toModelInput', () => {
  it('gives the same pixels as prepareUpload', async () => {
    const file = image('grace_hopper.png');
    const { pixels } = await prepareUpload(file, opts);
    expect((await toModelInput(file)).equals(pixels)).toBe(true);
  });
});

describe('thumbnailSize', () => {
  it('fits the box, keeps the aspect ratio, and never enlarges', () => {
    expect(thumbnailSize(1280, 720, 128)).toEqual({ width: 128, height: 72 });
    expect(thumbnailSize(512, 929, 128)).toEqual({ width: 71, height: 128 });
    expect(thumbnailSize(100, 80, 128)).toEqual({ width: 100, height: 80 });
    expect(thumbnailSize(5000, 1, 128)).toEqual({ width: 128, height: 1 });
  });
});
