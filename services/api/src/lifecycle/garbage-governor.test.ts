import { describe, expect, it } from 'vitest';
import { BufferGrowth } from './garbage-governor.js';

const MB = 1 << 20;

describe('BufferGrowth', () => {
  it('collects once buffers grow by the limit over the lowest total seen', () => {
    const growth = new BufferGrowth(32 * MB);
    expect(growth.shouldCollect(40 * MB)).toBe(false);
    expect(growth.shouldCollect(71 * MB)).toBe(false);
    expect(growth.shouldCollect(72 * MB)).toBe(true);
  });

  it("follows V8's own collections down, so growth counts from the latest low", () => {
    const growth = new BufferGrowth(32 * MB);
    growth.shouldCollect(60 * MB);
    // V8 collected on its own: the mark drops with it.
    expect(growth.shouldCollect(20 * MB)).toBe(false);
    expect(growth.shouldCollect(51 * MB)).toBe(false);
    expect(growth.shouldCollect(52 * MB)).toBe(true);
  });

  it('counts from what a collection left', () => {
    const growth = new BufferGrowth(32 * MB);
    growth.shouldCollect(10 * MB);
    expect(growth.shouldCollect(45 * MB)).toBe(true);
    growth.collected(30 * MB);
    expect(growth.shouldCollect(61 * MB)).toBe(false);
    expect(growth.shouldCollect(62 * MB)).toBe(true);
  });
});
