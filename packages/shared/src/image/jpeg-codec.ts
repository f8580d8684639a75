import { createRequire } from 'node:module';
import type { Metadata } from 'sharp';

/** The native codec (native/jpeg-codec.c), built by `pnpm build` into the package's build/. */
export interface JpegCodec {
  jpegPixels(jpeg: Buffer, shrink: number, width: number, height: number): Promise<Buffer>;
  thumbnailJpeg(
    rgb: Buffer,
    srcWidth: number,
    srcHeight: number,
    width: number,
    height: number,
    quality: number,
  ): Promise<Buffer>;
}

// Two levels below the package root from src/image and dist/image alike.
const codec = createRequire(import.meta.url)('../../build/jpeg-codec.node') as JpegCodec;

/** What the header says of a JPEG, as sharp's metadata reads it. */
export interface JpegHeader {
  /** Stored size, before EXIF orientation. */
  width: number;
  height: number;
  /** EXIF orientation, 1-8; 1 when absent. */
  orientation: number;
  space: string;
  /** The embedded ICC profile, if any. */
  icc?: Buffer;
}

/** The JPEG header's fields from sharp's metadata of the file. */
export const jpegHeader = (meta: Metadata): JpegHeader => ({
  width: meta.width,
  height: meta.height,
  orientation: meta.orientation ?? 1,
  space: meta.space ?? '',
  icc: meta.icc,
});

/**
 * Whether an ICC profile is the common sRGB IEC61966-2.1 one, by its header's device model
 * (bytes 52-55). libvips' transform from it to sRGB leaves 8-bit pixels as they are.
 */
const isSrgbProfile = (icc: Buffer) =>
  icc.length >= 128 && icc.toString('latin1', 52, 56) === 'sRGB';

/**
 * Whether the native path gives what sharp's pipeline would: YCbCr or greyscale with no ICC
 * profile or the sRGB one. Sharp converts other profiles to sRGB, and CMYK through one; those
 * stay with sharp.
 */
export const nativeDecodes = (header: JpegHeader) =>
  (header.space === 'srgb' || header.space === 'b-w') &&
  (header.icc === undefined || isSrgbProfile(header.icc));

/**
 * libjpeg's DCT scaling for a fill resize to `size` x `size`: sharp 0.35's choice (pipeline.cc,
 * shrink-on-load), the largest of 8, 4 and 2 not above the smaller side over `size`, halved when
 * that ratio's whole part equals it. The benchmark peer makes the same choice.
 */
export function jpegShrink(width: number, height: number, size: number): number {
  const ratio = Math.min(width, height) / size;
  const factor = [8, 4, 2].find((f) => ratio >= f) ?? 1;
  return factor > 1 && Math.trunc(ratio) === factor ? factor / 2 : factor;
}

/**
 * Where display pixel (x, y) of an `n` x `n` image comes from in the stored one, for each EXIF
 * orientation (the turn or mirror a viewer applies to show the stored pixels upright).
 */
const SOURCE: Record<number, (x: number, y: number, last: number) => [number, number]> = {
  2: (x, y, last) => [last - x, y],
  3: (x, y, last) => [last - x, last - y],
  4: (x, y, last) => [x, last - y],
  5: (x, y) => [y, x],
  6: (x, y, last) => [y, last - x],
  7: (x, y, last) => [last - y, last - x],
  8: (x, y, last) => [last - y, x],
};

/**
 * Square packed RGB turned upright per its EXIF orientation. For a square fill resize, turning
 * after the resize equals turning before it.
 */
export function orientSquare(pixels: Buffer, size: number, orientation: number): Buffer {
  const source = SOURCE[orientation];
  if (!source) return pixels;
  const out = Buffer.allocUnsafe(pixels.length);
  const last = size - 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const [sx, sy] = source(x, y, last);
      const o = (y * size + x) * 3;
      const s = (sy * size + sx) * 3;
      out[o] = pixels[s] as number;
      out[o + 1] = pixels[s + 1] as number;
      out[o + 2] = pixels[s + 2] as number;
    }
  }
  return out;
}

/**
 * `size` x `size` packed RGB from a JPEG, as PIL's draft mode and BILINEAR resize make it: the
 * whole file handed to libjpeg with DCT scaling, then PIL's antialiased bilinear in fixed point,
 * on libuv's thread pool. Rejects with libjpeg's message when the file does not decode.
 */
export async function jpegPixels(jpeg: Buffer, header: JpegHeader, size: number): Promise<Buffer> {
  const shrink = jpegShrink(header.width, header.height, size);
  const pixels = await codec.jpegPixels(jpeg, shrink, size, size);
  return orientSquare(pixels, size, header.orientation);
}

/**
 * A JPEG of `width` x `height` from square packed RGB: PIL's bilinear resample, then libjpeg's
 * encoder, on libuv's thread pool.
 */
export function thumbnailJpeg(
  pixels: Buffer,
  size: number,
  target: { width: number; height: number },
  quality: number,
): Promise<Buffer> {
  return codec.thumbnailJpeg(pixels, size, size, target.width, target.height, quality);
}
