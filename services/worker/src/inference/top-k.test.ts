import { describe, expect, it } from 'vitest';
import { topK } from './top-k.js';

const labels = ['background', 'a', 'b', 'c', 'd', 'e'];

describe('topK', () => {
  it('returns the k best classes sorted by score, best first', () => {
    const p = Float32Array.from([0.01, 0.1, 0.4, 0.05, 0.3, 0.14]);
    expect(topK(p, labels, 3).map((x) => [x.index, x.label])).toEqual([
      [2, 'b'],
      [4, 'd'],
      [5, 'e'],
    ]);
    expect(topK(p, labels, 3)[0]?.score).toBeCloseTo(0.4, 6);
  });

  it('never returns the background class, even when it scores highest', () => {
    const p = [0.9, 0.02, 0.03, 0.01, 0.04, 0.0];
    const result = topK(p, labels, 5);
    expect(result.map((x) => x.index)).toEqual([4, 2, 1, 3, 5]);
    expect(result.some((x) => x.index === 0)).toBe(false);
  });

  it('keeps the lower index first on ties and handles k beyond the class count', () => {
    const p = [0, 0.25, 0.25, 0.25, 0.25, 0];
    expect(topK(p, labels, 10).map((x) => x.index)).toEqual([1, 2, 3, 4, 5]);
    expect(topK(p, labels, 0)).toEqual([]);
  });
});
