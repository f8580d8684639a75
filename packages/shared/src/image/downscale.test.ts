import { describe, expect, it } from 'vitest';
import { downscaleRgb } from './downscale.js';

const rgb = (width: number, height: number, pixel: (x: number, y: number) => number[]) => ({
  width,
  height,
  data: Uint8Array.from(
    Array.from({ length: width * height }, (_, i) =>
      pixel(i % width, Math.floor(i / width)),
    ).flat(),
  ),
});

describe('downscaleRgb', () => {
  it('averages each output pixel over its box of source pixels', () => {
    // 4x2 to 2x1: each output pixel is the mean of a 2x2 box.
    const src = rgb(4, 2, (x, y) => [x * 10 + y, 100, 200 + x]);
    const out = downscaleRgb(src, 2, 1);
    expect(Array.from(out.data)).toEqual([
      Math.round((0 + 1 + 10 + 11) / 4),
      100,
      Math.round((200 + 201 + 200 + 201) / 4),
      Math.round((20 + 21 + 30 + 31) / 4),
      100,
      Math.round((202 + 203 + 202 + 203) / 4),
    ]);
    expect(out).toMatchObject({ width: 2, height: 1 });
  });

  it('keeps a flat colour flat and returns the same size unchanged', () => {
    const flat = rgb(224, 224, () => [12, 34, 56]);
    const out = downscaleRgb(flat, 128, 85);
    expect(out.data.length).toBe(128 * 85 * 3);
    expect(new Set(out.data)).toEqual(new Set([12, 34, 56]));
    const src = rgb(5, 3, (x, y) => [x, y, x + y]);
    expect(Array.from(downscaleRgb(src, 5, 3).data)).toEqual(Array.from(src.data));
  });

  it('covers every source pixel once at uneven ratios', () => {
    // One bright column at the right edge must reach the last output column, and only it.
    const src = rgb(7, 1, (x) => (x === 6 ? [255, 255, 255] : [0, 0, 0]));
    const out = Array.from(downscaleRgb(src, 3, 1).data);
    expect(out.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(out[6]).toBeGreaterThan(0);
  });

  it('refuses to enlarge, to shrink to nothing, or a buffer of the wrong length', () => {
    const src = rgb(4, 4, () => [0, 0, 0]);
    expect(() => downscaleRgb(src, 5, 4)).toThrow(RangeError);
    expect(() => downscaleRgb(src, 0, 4)).toThrow(RangeError);
    expect(() => downscaleRgb({ ...src, data: new Uint8Array(10) }, 2, 2)).toThrow(RangeError);
  });
});
