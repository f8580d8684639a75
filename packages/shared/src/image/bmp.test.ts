import { describe, expect, it } from 'vitest';
import { MODEL_SPEC } from '../model-spec.js';
import { makeBmp } from './bmp.test-helper.js';
import { prepareUpload } from './preprocess.js';
import {
  at,
  CLEAR,
  expectAppError,
  expectColour,
  image,
  meanAbsDiff,
  ORANGE,
  opts,
  rgb,
  SKY,
  splitColour,
} from './preprocess.test-helper.js';

// BMP uploads: decoded by bmp.ts (sharp reads no BMP), through prepareUpload.
describe('prepareUpload: BMP', () => {
  it('reads the BMP test image like its PNG twin', async () => {
    const bmp = await prepareUpload(image('cat.bmp'), opts);
    const png = await prepareUpload(image('cat.png'), opts);
    expect(bmp).toMatchObject({ format: 'bmp', width: 512, height: 341 });
    expect(bmp.pixels).toHaveLength(MODEL_SPEC.inputBytes);
    expect(meanAbsDiff(bmp.pixels, png.pixels)).toBeLessThan(0.5);
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

  it('refuses a BMP whose header declares too many pixels, before allocating them', async () => {
    const file = makeBmp(2, 2, splitColour(2), { bpp: 24 });
    file.writeInt32LE(100_000, 18);
    file.writeInt32LE(100_000, 22);
    await expectAppError(prepareUpload(file, opts), 'TOO_MANY_PIXELS', 422);
  });
});
