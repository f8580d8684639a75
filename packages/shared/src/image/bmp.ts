import { decode } from 'bmp-ts';
import { AppError } from '../errors.js';

/** Compressions bmp-ts decodes correctly: none and bit fields (its RLE path is broken). */
const READABLE_COMPRESSIONS = new Set([0, 3, 6]);
/** Windows header sizes that bmp-ts reads; the OS/2 ones (12, 64) it does not. */
const DIB_HEADER_SIZES = new Set([40, 52, 56, 108, 124]);
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

export interface BmpHeader {
  width: number;
  height: number;
  bitsPerPixel: number;
  /** Where bmp-ts expects the pixels: right after the headers, masks and palette. */
  packedPixelOffset: number;
  pixelOffset: number;
}

export interface RawPixels {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Buffer;
}

const undecodable = (why: string) => new AppError('UNDECODABLE_IMAGE', `The BMP file ${why}`);

/** Reads the BMP headers without touching the pixels, refusing the variants we cannot decode. */
export function readBmpHeader(buf: Buffer): BmpHeader {
  if (buf.length < 54) throw undecodable('is truncated in its header');
  const dibSize = buf.readUInt32LE(14);
  if (!DIB_HEADER_SIZES.has(dibSize)) {
    throw new AppError('UNSUPPORTED_FORMAT', `BMP header size ${dibSize} is not supported`);
  }
  const width = buf.readInt32LE(18);
  const height = Math.abs(buf.readInt32LE(22));
  const bitsPerPixel = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  const colors = buf.readUInt32LE(46);
  if (width <= 0 || height === 0) throw undecodable(`declares an empty size ${width}x${height}`);
  if (!READABLE_COMPRESSIONS.has(compression)) {
    throw new AppError('UNSUPPORTED_FORMAT', `BMP compression ${compression} is not supported`);
  }
  if (bitsPerPixel === 4 && width % 2 === 1) {
    // bmp-ts stops after the first row of such images and leaves the rest black.
    throw new AppError('UNSUPPORTED_FORMAT', '4-bit BMP files with an odd width are not supported');
  }
  // Mirrors how far bmp-ts reads before the pixels, since it ignores the pixel offset field.
  let packedPixelOffset = 14 + 40;
  if (dibSize > 40 || compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    packedPixelOffset += 12;
  }
  if (dibSize > 52 || compression === BI_ALPHABITFIELDS) packedPixelOffset += 4;
  if (dibSize > 56) packedPixelOffset += 108 - 56;
  if (dibSize > 108) packedPixelOffset += 124 - 108;
  if (bitsPerPixel <= 8 || colors > 0) {
    packedPixelOffset += 4 * (colors === 0 ? 1 << bitsPerPixel : colors);
  }
  return {
    width,
    height,
    bitsPerPixel,
    packedPixelOffset,
    pixelOffset: buf.readUInt32LE(10),
  };
}

/** Decodes an uncompressed or bit-field BMP to RGB, or RGBA when it carries real alpha. */
export function decodeBmp(buf: Buffer, header: BmpHeader): RawPixels {
  const { width, height, bitsPerPixel, packedPixelOffset, pixelOffset } = header;
  const rowBytes = Math.floor((bitsPerPixel * width + 31) / 32) * 4;
  if (pixelOffset < packedPixelOffset) throw undecodable('has its pixels inside its headers');
  if (pixelOffset + rowBytes * height > buf.length) throw undecodable('is truncated');
  const packed =
    pixelOffset === packedPixelOffset
      ? buf
      : Buffer.concat([buf.subarray(0, packedPixelOffset), buf.subarray(pixelOffset)]);

  let abgr: Buffer;
  try {
    // Without toRGBA every bit depth comes out as A,B,G,R bytes; with it, palette images do not.
    abgr = decode(packed).data;
  } catch (err) {
    throw undecodable(`could not be decoded: ${(err as Error).message}`);
  }

  // Only 16- and 32-bit pixels have an alpha field; all-zero alpha means an unused field.
  let hasAlpha = false;
  if (bitsPerPixel === 16 || bitsPerPixel === 32) {
    let anyVisible = false;
    let anyTranslucent = false;
    for (let i = 0; i < abgr.length; i += 4) {
      const a = abgr[i] as number;
      if (a !== 0) anyVisible = true;
      if (a !== 255) anyTranslucent = true;
    }
    hasAlpha = anyVisible && anyTranslucent;
  }

  const channels = hasAlpha ? 4 : 3;
  const pixelCount = width * height;
  const data = Buffer.allocUnsafe(pixelCount * channels);
  for (let p = 0, i = 0, o = 0; p < pixelCount; p++, i += 4, o += channels) {
    data[o] = abgr[i + 3] as number;
    data[o + 1] = abgr[i + 2] as number;
    data[o + 2] = abgr[i + 1] as number;
    if (hasAlpha) data[o + 3] = abgr[i] as number;
  }
  return { width, height, channels, data };
}
