/** Packed RGB pixels, row-major, 3 bytes each. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * Along one axis, output pixel i averages source pixels bounds[i] to bounds[i + 1] - 1: those
 * whose centres fall inside its span. With to <= from, every span holds at least one.
 */
function spans(from: number, to: number): Int32Array {
  const bounds = new Int32Array(to + 1);
  for (let i = 0; i <= to; i++) bounds[i] = Math.round((i * from) / to);
  return bounds;
}

/**
 * Shrinks packed RGB by averaging each output pixel's box of source pixels (area resampling).
 * Only ever shrinks: `width` <= src.width and `height` <= src.height. For thumbnails of the
 * model's 224x224 input, where a libvips resize stage costs some ten times this loop.
 */
export function downscaleRgb(src: RgbImage, width: number, height: number): RgbImage {
  if (width < 1 || height < 1 || width > src.width || height > src.height) {
    throw new RangeError(
      `Cannot shrink ${src.width}x${src.height} to ${width}x${height}: only smaller, at least 1x1`,
    );
  }
  if (src.data.length !== src.width * src.height * 3) {
    throw new RangeError(`Expected ${src.width * src.height * 3} bytes, got ${src.data.length}`);
  }
  const xs = spans(src.width, width);
  const ys = spans(src.height, height);
  const data = src.data;
  const rowBytes = src.width * 3;
  const out = new Uint8Array(width * height * 3);
  // Per output row, the column sums of its source rows, then each output pixel's box of them.
  const sums = new Uint32Array(rowBytes);
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    const y0 = ys[y] as number;
    const y1 = ys[y + 1] as number;
    for (let row = y0 * rowBytes; row < y1 * rowBytes; row += rowBytes) {
      for (let i = 0; i < rowBytes; i++) sums[i] = (sums[i] as number) + (data[row + i] as number);
    }
    let o = y * width * 3;
    for (let x = 0; x < width; x++) {
      const x0 = xs[x] as number;
      const x1 = xs[x + 1] as number;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let i = x0 * 3; i < x1 * 3; i += 3) {
        r += sums[i] as number;
        g += sums[i + 1] as number;
        b += sums[i + 2] as number;
      }
      const n = (x1 - x0) * (y1 - y0);
      out[o++] = Math.round(r / n);
      out[o++] = Math.round(g / n);
      out[o++] = Math.round(b / n);
    }
  }
  return { width, height, data: out };
}
