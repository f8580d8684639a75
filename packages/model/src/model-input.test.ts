import { describe, expect, it } from 'vitest';
import { modelInput } from './model-input.js';

const rgb = (pixels: number, seed: number) =>
  Uint8Array.from({ length: pixels * 3 }, (_, i) => (i * 37 + seed) % 256);

describe('modelInput', () => {
  it('lays three channels out as they are, image after image', () => {
    const [a, b] = [rgb(5, 1), rgb(5, 2)];
    expect(Array.from(modelInput([a, b], 15, 3))).toEqual([...a, ...b]);
  });

  it('adds a zero fourth channel to every pixel, from unaligned views and odd pixel counts', () => {
    // 9 pixels: two whole groups of four, then one more; the view starts at byte 1.
    const backing = new Uint8Array(1 + 27);
    backing.set(rgb(9, 3), 1);
    const image = backing.subarray(1);
    const expected = Array.from({ length: 9 }, (_, p) => [...image.subarray(p * 3, p * 3 + 3), 0]);
    const input = modelInput([image, image], 27, 4);
    expect(Array.from(input)).toEqual([...expected.flat(), ...expected.flat()]);
  });

  it('refuses an image of the wrong size, and channel counts other than 3 and 4', () => {
    expect(() => modelInput([rgb(4, 0), rgb(3, 0)], 12, 4)).toThrow(
      'Image 1 of the batch has 9 bytes, expected 12',
    );
    expect(() => modelInput([rgb(4, 0)], 12, 5)).toThrow('5 channels is not supported');
  });
});
