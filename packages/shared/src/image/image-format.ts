import { IMAGE_FORMATS, type ImageFormat } from '../queue/contract.js';

/** The formats we read, as a sentence names them: "JPEG, PNG, WebP, GIF, TIFF, AVIF or BMP". */
export const IMAGE_FORMAT_NAMES = new Intl.ListFormat('en-GB', { type: 'disjunction' }).format(
  Object.values(IMAGE_FORMATS),
);

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const BMP_DIB_HEADER_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);
const BMP_BITS_PER_PIXEL = new Set([1, 4, 8, 16, 24, 32]);
const AVIF_BRANDS = new Set(['avif', 'avis']);

function startsWith(buf: Uint8Array, bytes: readonly number[], offset = 0): boolean {
  if (buf.length < offset + bytes.length) return false;
  return bytes.every((b, i) => buf[offset + i] === b);
}

function ascii(buf: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...buf.subarray(start, end));
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** An ISO-BMFF `ftyp` box naming an AVIF brand, major or compatible (HEIC brands do not count). */
function isAvif(buf: Uint8Array): boolean {
  if (buf.length < 16 || ascii(buf, 4, 8) !== 'ftyp') return false;
  const boxSize = view(buf).getUint32(0);
  if (boxSize < 16 || boxSize % 4 !== 0) return false;
  if (AVIF_BRANDS.has(ascii(buf, 8, 12))) return true;
  // Bytes 12-16 are the minor version, then the compatible brands.
  const end = Math.min(boxSize, buf.length);
  for (let i = 16; i + 4 <= end; i += 4) {
    if (AVIF_BRANDS.has(ascii(buf, i, i + 4))) return true;
  }
  return false;
}

/** 'BM' alone is too weak a signature (plain text can start with it): check the headers too. */
function isBmp(buf: Uint8Array): boolean {
  if (buf.length < 30 || buf[0] !== 0x42 || buf[1] !== 0x4d) return false;
  const dv = view(buf);
  const dibSize = dv.getUint32(14, true);
  if (!BMP_DIB_HEADER_SIZES.has(dibSize)) return false;
  if (dv.getUint32(10, true) < 14 + dibSize) return false;
  const core = dibSize === 12;
  const planes = dv.getUint16(core ? 22 : 26, true);
  const bitsPerPixel = dv.getUint16(core ? 24 : 28, true);
  return planes === 1 && BMP_BITS_PER_PIXEL.has(bitsPerPixel);
}

/** The image format by magic bytes alone; undefined when none of ours matches. */
export function detectFormat(buf: Uint8Array): ImageFormat | undefined {
  if (startsWith(buf, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(buf, PNG_SIGNATURE)) return 'png';
  if (buf.length >= 6 && (ascii(buf, 0, 6) === 'GIF87a' || ascii(buf, 0, 6) === 'GIF89a')) {
    return 'gif';
  }
  if (buf.length >= 12 && ascii(buf, 0, 4) === 'RIFF' && ascii(buf, 8, 12) === 'WEBP') {
    return 'webp';
  }
  if (startsWith(buf, [0x49, 0x49, 0x2a, 0x00]) || startsWith(buf, [0x4d, 0x4d, 0x00, 0x2a])) {
    return 'tiff';
  }
  if (isAvif(buf)) return 'avif';
  if (isBmp(buf)) return 'bmp';
  return undefined;
}
