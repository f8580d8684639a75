import { createRequire } from 'node:module';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  type JpegCodec,
  jpegHeader,
  jpegShrink,
  nativeDecodes,
  orientSquare,
  thumbnailJpeg,
} from './jpeg-codec.js';
import { prepareUpload } from './preprocess.js';
import { gradient, image, meanAbsDiff, opts, SIZE } from './preprocess.test-helper.js';

/** What libvips makes of the same file: the pipeline other formats take. */
const libvipsPixels = (file: Buffer) =>
  sharp(file, { autoOrient: true })
    .resize(SIZE, SIZE, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();

/** Stored 90 wide and 60 high, a different colour in each quarter, so every turn shows. */
function quarters() {
  const colours = [
    [230, 40, 40],
    [40, 230, 40],
    [40, 40, 230],
    [230, 230, 40],
  ];
  const data = Buffer.alloc(90 * 60 * 3);
  for (let y = 0; y < 60; y++) {
    for (let x = 0; x < 90; x++) {
      data.set(colours[(y < 30 ? 0 : 2) + (x < 45 ? 0 : 1)] as number[], (y * 90 + x) * 3);
    }
  }
  return sharp(data, { raw: { width: 90, height: 60, channels: 3 } });
}

/**
 * The JPEG with an EXIF block holding only `orientation`. (sharp's withMetadata would also
 * attach an ICC profile, which sends the file to libvips.)
 */
function withOrientation(jpeg: Buffer, orientation: number) {
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0];
  const exif = Buffer.from([
    ...Buffer.from('Exif\0\0', 'latin1'),
    ...tiff,
    orientation,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const app1 = Buffer.from([0xff, 0xe1, 0, exif.length + 2]);
  return Buffer.concat([jpeg.subarray(0, 2), app1, exif, jpeg.subarray(2)]);
}

/** Whether prepareUpload takes the native path for this file. */
async function takesNativePath(file: Buffer) {
  return nativeDecodes(jpegHeader(await sharp(file).metadata()));
}

describe('jpegShrink', () => {
  it.each([
    [512, 341, 1],
    [1024, 682, 2],
    // 937 / 224 is 4.18: 4, halved, as sharp guards against libjpeg's rounding at whole ratios.
    [1352, 937, 2],
    [1352, 1584, 4],
    [4000, 3000, 8],
    [1792, 1792, 4],
    [448, 448, 1],
    [100, 80, 1],
  ])('%i x %i shrinks by %i', (width, height, shrink) => {
    expect(jpegShrink(width, height, SIZE)).toBe(shrink);
  });
});

describe('orientSquare', () => {
  // 2 x 2 pixels a, b / c, d, one byte apart in their red channel.
  const square = Buffer.from([1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0]);
  const reds = (pixels: Buffer) => [0, 3, 6, 9].map((i) => pixels[i]);

  it.each([
    [1, [1, 2, 3, 4]],
    [2, [2, 1, 4, 3]],
    [3, [4, 3, 2, 1]],
    [4, [3, 4, 1, 2]],
    [5, [1, 3, 2, 4]],
    [6, [3, 1, 4, 2]],
    [7, [4, 2, 3, 1]],
    [8, [2, 4, 1, 3]],
  ])('orientation %i', (orientation, expected) => {
    expect(reds(orientSquare(square, 2, orientation))).toEqual(expected);
  });
});

describe('the native JPEG path', () => {
  it('takes plain and sRGB JPEGs, and leaves CMYK and other ICC profiles to libvips', () => {
    const plain = { width: 1, height: 1, orientation: 1 };
    const profile = (model: string) => {
      const icc = Buffer.alloc(128);
      icc.write(model, 52, 'latin1');
      return icc;
    };
    expect(nativeDecodes({ ...plain, space: 'srgb' })).toBe(true);
    expect(nativeDecodes({ ...plain, space: 'b-w' })).toBe(true);
    expect(nativeDecodes({ ...plain, space: 'srgb', icc: profile('sRGB') })).toBe(true);
    expect(nativeDecodes({ ...plain, space: 'cmyk' })).toBe(false);
    expect(nativeDecodes({ ...plain, space: 'srgb', icc: profile('P3  ') })).toBe(false);
  });

  it.each(['parrot.jpg', 'cat_720p.jpg', 'face.jpg'])(
    'stays close to libvips on %s',
    async (name) => {
      const file = image(name);
      expect(await takesNativePath(file)).toBe(true);
      const { pixels } = await prepareUpload(file, opts);
      expect(meanAbsDiff(pixels, await libvipsPixels(file))).toBeLessThan(1.5);
    },
  );

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('turns EXIF orientation %i as libvips does', async (o) => {
    const file = withOrientation(await quarters().jpeg({ quality: 95 }).toBuffer(), o);
    expect(await takesNativePath(file)).toBe(true);
    const result = await prepareUpload(file, opts);
    expect(result).toMatchObject(o >= 5 ? { width: 60, height: 90 } : { width: 90, height: 60 });
    expect(meanAbsDiff(result.pixels, await libvipsPixels(file))).toBeLessThan(1.5);
  });

  it('leaves a Display P3 JPEG to libvips', async () => {
    const file = await gradient(64, 48).jpeg().withIccProfile('p3').toBuffer();
    expect(await takesNativePath(file)).toBe(false);
  });

  it.each(['cmyk', 'b-w'] as const)('decodes %s JPEGs as libvips does', async (space) => {
    const file = await gradient(64, 48).toColourspace(space).jpeg({ quality: 95 }).toBuffer();
    expect(await takesNativePath(file)).toBe(space === 'b-w');
    const { pixels } = await prepareUpload(file, opts);
    expect(meanAbsDiff(pixels, await libvipsPixels(file))).toBeLessThan(1.5);
  });
});

describe('thumbnailJpeg', () => {
  it('shrinks square pixels to a JPEG of the size asked, colours kept', async () => {
    const pixels = await gradient(SIZE, SIZE).raw().toBuffer();
    const jpeg = await thumbnailJpeg(pixels, SIZE, { width: 128, height: 96 }, 80);
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ format: 'raw', width: 128, height: 96, channels: 3 });
    const expected = await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .resize(128, 96, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    expect(meanAbsDiff(data, expected)).toBeLessThan(2);
  });

  it('refuses pixels that are not the size they claim', () => {
    expect(() => thumbnailJpeg(Buffer.alloc(10), SIZE, { width: 8, height: 8 }, 80)).toThrow(
      TypeError,
    );
  });
});

describe('the portable build (CPUs without AVX2)', () => {
  const load = (name: string) =>
    createRequire(import.meta.url)(`../../build/${name}.node`) as JpegCodec;
  const [fast, portable] = [load('jpeg-codec'), load('jpeg-codec-portable')];

  it.each(['parrot.jpg', 'cat_720p.jpg', 'face.jpg'])(
    'makes the same pixels as the default build from %s',
    async (name) => {
      const file = image(name);
      const { width, height } = jpegHeader(await sharp(file).metadata());
      // The service's shrink, then no shrink (wide windows), a shape not square, and an upscale.
      const cases = [
        [jpegShrink(width, height, SIZE), SIZE, SIZE],
        [1, SIZE, SIZE],
        [2, 100, 37],
        [8, 333, 301],
      ] as const;
      for (const [shrink, w, h] of cases) {
        const [a, b] = await Promise.all(
          [fast, portable].map((codec) => codec.jpegPixels(file, shrink, w, h)),
        );
        expect(a?.equals(b as Buffer), `shrink ${shrink} to ${w} x ${h}`).toBe(true);
      }
    },
  );

  it('makes the same thumbnails as the default build', async () => {
    const pixels = await gradient(SIZE, SIZE).raw().toBuffer();
    // Noise, so that every tap's weight shows in the result.
    for (let i = 0; i < pixels.length; i += 7) pixels[i] = (i * 2654435761) >>> 24;
    for (const [w, h] of [
      [128, 96],
      [17, 200],
      [1, 1],
    ] as const) {
      const [a, b] = await Promise.all(
        [fast, portable].map((codec) => codec.thumbnailJpeg(pixels, SIZE, SIZE, w, h, 90)),
      );
      expect(a?.equals(b as Buffer), `${w} x ${h}`).toBe(true);
    }
  });
});
