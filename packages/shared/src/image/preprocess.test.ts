import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { MODEL_SPEC } from '../model-spec.js';
import { detectFormat } from './image-format.js';
import { prepareUpload, thumbnailMediaType, thumbnailSize, toModelInput } from './preprocess.js';
import {
  at,
  CLEAR,
  expectAppError,
  expectColour,
  gradient,
  halves,
  image,
  meanAbsDiff,
  ORANGE,
  opts,
  rgb,
  SKY,
} from './preprocess.test-helper.js';

// BMP uploads: bmp.test.ts.

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

  it('applies the pixel limit inclusively', async () => {
    const file = image('cat.png');
    await expect(prepareUpload(file, { maxPixels: 512 * 341 })).resolves.toBeDefined();
    await expectAppError(prepareUpload(file, { maxPixels: 512 * 341 - 1 }), 'TOO_MANY_PIXELS', 422);
    await expectAppError(toModelInput(file, { maxPixels: 1000 }), 'TOO_MANY_PIXELS', 422);
  });

  it('makes a JPEG thumbnail that fits the box', async () => {
    const { thumbnail } = await prepareUpload(image('cat.png'), opts);
    expect(detectFormat(thumbnail)).toBe('jpeg');
    expect(thumbnailMediaType(thumbnail)).toBe('image/jpeg');
    const meta = await sharp(thumbnail).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 128, height: 85 });

    const tall = await prepareUpload(image('parrot.jpg'), { ...opts, thumbnailSize: 64 });
    expect(await sharp(tall.thumbnail).metadata()).toMatchObject({ width: 35, height: 64 });

    const tiny = await prepareUpload(await gradient(30, 20).png().toBuffer(), opts);
    expect(await sharp(tiny.thumbnail).metadata()).toMatchObject({ width: 30, height: 20 });
  });

  it('names the media type of thumbnails stored as WebP before they were JPEG', async () => {
    expect(thumbnailMediaType(await gradient(30, 20).webp().toBuffer())).toBe('image/webp');
    expect(thumbnailMediaType(await gradient(30, 20).jpeg().toBuffer())).toBe('image/jpeg');
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
