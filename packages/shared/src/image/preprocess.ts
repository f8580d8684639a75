import sharp, { type Sharp } from 'sharp';
import { DEFAULT_MAX_PIXELS } from '../config.js';
import { AppError, errorMessage } from '../errors.js';
import { MODEL_SPEC } from '../model-spec.js';
import { IMAGE_FORMATS, type ImageFormat } from '../queue/contract.js';
import { decodeBmp, readBmpHeader } from './bmp.js';
import { detectFormat } from './image-format.js';
import {
  type JpegHeader,
  jpegHeader,
  jpegPixels,
  nativeDecodes,
  thumbnailJpeg,
} from './jpeg-codec.js';

// Every upload is decoded once: libvips' operation cache would only hold memory.
sharp.cache(false);

export interface PreparedImage {
  format: ImageFormat;
  /** Size after EXIF orientation. */
  width: number;
  height: number;
  /** MODEL_SPEC.inputSize squared RGB triplets, uint8, row-major (HWC). */
  pixels: Buffer;
  /** JPEG that fits inside thumbnailSize x thumbnailSize. */
  thumbnail: Buffer;
}

export interface PrepareOptions {
  maxPixels: number;
  thumbnailSize?: number;
}

/** The box a thumbnail fits in, pixels. */
export const DEFAULT_THUMBNAIL_SIZE = 128;
/** libjpeg's quality for thumbnails, 1-100. */
export const THUMBNAIL_QUALITY = 80;
/** What a stored thumbnail is: JPEG, or WebP for those made before thumbnails were JPEG. */
export const THUMBNAIL_MEDIA_TYPES = ['image/jpeg', 'image/webp'] as const;
const WHITE = { r: 255, g: 255, b: 255 };
/**
 * libvips' linear reduce is a triangle filter widened by the shrink factor: antialiased
 * bilinear, as PIL's BILINEAR that the reference numbers match. On the test images it is
 * within 0.2-0.4 mean abs per channel of PIL; cubic, lanczos and mks are 0.8-4 away.
 */
const RESIZE_KERNEL = 'linear';

/**
 * A checked upload, ready to decode: its format, its size after EXIF orientation, and what
 * decodes it: libvips, or for a plain JPEG the native codec (./jpeg-codec.ts).
 */
interface CheckedImage {
  format: ImageFormat;
  width: number;
  height: number;
  source: Sharp | { bytes: Buffer; header: JpegHeader };
}

function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0]?.trim() ?? '';
}

function undecodable(format: ImageFormat, err: unknown): AppError {
  return new AppError(
    'UNDECODABLE_IMAGE',
    `The ${IMAGE_FORMATS[format]} image could not be decoded: ${firstLine(err)}`,
    { cause: err },
  );
}

function tooManyPixels(width: number, height: number, maxPixels: number): AppError {
  return new AppError(
    'TOO_MANY_PIXELS',
    `The image is ${width}x${height} pixels, more than the limit of ${maxPixels}`,
  );
}

async function readHeader(buf: Buffer, format: ImageFormat) {
  try {
    // Header only; no limit here, so that the refusal can name the declared size.
    const meta = await sharp(buf, { failOn: 'error', limitInputPixels: false }).metadata();
    // For multi-page GIF and TIFF this is the first page, the only one decoded.
    return { ...meta.autoOrient, pixels: meta.width * meta.height, meta };
  } catch (err) {
    throw undecodable(format, err);
  }
}

/** Checks format and declared size; nothing is decoded yet. */
async function check(buf: Buffer, maxPixels: number): Promise<CheckedImage> {
  const format = detectFormat(buf);
  if (!format) throw new AppError('UNSUPPORTED_FORMAT');
  const limitInputPixels = Math.max(1, Math.floor(maxPixels));
  if (format === 'bmp') {
    const header = readBmpHeader(buf);
    if (header.width * header.height > maxPixels) {
      throw tooManyPixels(header.width, header.height, maxPixels);
    }
    const { width, height, channels, data } = decodeBmp(buf, header);
    return {
      format,
      width,
      height,
      source: sharp(data, { raw: { width, height, channels }, limitInputPixels }),
    };
  }
  const { width, height, pixels, meta } = await readHeader(buf, format);
  if (pixels > maxPixels) throw tooManyPixels(width, height, maxPixels);
  if (format === 'jpeg') {
    const header = jpegHeader(meta);
    if (nativeDecodes(header)) return { format, width, height, source: { bytes: buf, header } };
  }
  // failOn 'error' refuses truncated files; 'warning' would also refuse many camera JPEGs.
  const source = sharp(buf, { failOn: 'error', limitInputPixels, autoOrient: true });
  return { format, width, height, source };
}

/**
 * The model's input straight from the upload: resizing in the same pipeline as the decode lets
 * libjpeg and libwebp decode at a fraction of the size (shrink-on-load), the largest cost saved.
 */
async function modelPixels(image: CheckedImage, maxPixels: number): Promise<Buffer> {
  const size = MODEL_SPEC.inputSize;
  const { source } = image;
  if ('header' in source) {
    try {
      return await jpegPixels(source.bytes, source.header, size);
    } catch (err) {
      throw undecodable(image.format, err);
    }
  }
  try {
    const { data, info } = await source
      .resize(size, size, { fit: 'fill', kernel: RESIZE_KERNEL })
      .flatten({ background: WHITE })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new Error(`decoded to ${info.channels} channels instead of 3`);
    }
    return data;
  } catch (err) {
    if (/pixel limit/i.test(firstLine(err))) {
      throw new AppError('TOO_MANY_PIXELS', `The image has more than ${maxPixels} pixels`);
    }
    throw undecodable(image.format, err);
  }
}

/** The box a thumbnail of `width` x `height` takes, never larger than the image. */
export function thumbnailSize(width: number, height: number, box: number) {
  const scale = Math.min(1, box / Math.max(width, height));
  return {
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
  };
}

/**
 * The thumbnail from the model's 224x224 pixels rather than a second decode: it is smaller than
 * them on both axes, so restoring the aspect ratio only ever shrinks. Made by the native codec,
 * not libvips, whose pipeline costs several times the work (docs/performance.md). JPEG, not WebP:
 * at a thumbnail's size libwebp's encoder costs about twice libjpeg's, for a file a few percent
 * smaller.
 */
function thumbnail(pixels: Buffer, width: number, height: number, box: number): Promise<Buffer> {
  const size = MODEL_SPEC.inputSize;
  const target = thumbnailSize(width, height, Math.min(box, size));
  return thumbnailJpeg(pixels, size, target, THUMBNAIL_QUALITY);
}

/** A stored thumbnail's media type, one of THUMBNAIL_MEDIA_TYPES. */
export function thumbnailMediaType(thumbnail: Uint8Array): (typeof THUMBNAIL_MEDIA_TYPES)[number] {
  return detectFormat(thumbnail) === 'webp' ? 'image/webp' : 'image/jpeg';
}

/**
 * Validates and preprocesses an upload, decoding it once: the model's 224x224 RGB pixels and a
 * JPEG thumbnail. Throws AppError UNSUPPORTED_FORMAT, TOO_MANY_PIXELS or UNDECODABLE_IMAGE.
 */
export async function prepareUpload(buf: Buffer, opts: PrepareOptions): Promise<PreparedImage> {
  const image = await check(buf, opts.maxPixels);
  const pixels = await modelPixels(image, opts.maxPixels);
  const box = opts.thumbnailSize ?? DEFAULT_THUMBNAIL_SIZE;
  return {
    format: image.format,
    width: image.width,
    height: image.height,
    pixels,
    thumbnail: await thumbnail(pixels, image.width, image.height, box),
  };
}

/** The same pipeline as prepareUpload, the model's pixels only. */
export async function toModelInput(
  buf: Buffer,
  opts: { maxPixels?: number } = {},
): Promise<Buffer> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  return modelPixels(await check(buf, maxPixels), maxPixels);
}
