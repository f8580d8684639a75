import { describe, expect, it } from 'vitest';
import { QueueDepth } from './queue-depth.js';

function counter(initial: number) {
  const state = { waiting: initial, reads: 0, now: 0 };
  const depth = new QueueDepth(
    async () => {
      state.reads++;
      return state.waiting;
    },
    100,
    () => state.now,
  );
  return { state, depth };
}

describe('QueueDepth', () => {
  it('reads once, then accepts on the count plus its own additions while the read is fresh', async () => {
    const { state, depth } = counter(2);
    expect(await depth.admits(1, 5)).toEqual({ admitted: true, waiting: 2 });
    depth.added(1);
    state.waiting = 3;
    expect(await depth.admits(1, 5)).toEqual({ admitted: true, waiting: 3 });
    depth.added(1);
    expect(state.reads).toBe(1);
  });

  it('never refuses on the estimate: it reads again first', async () => {
    const { state, depth } = counter(4);
    expect((await depth.admits(1, 5)).admitted).toBe(true);
    depth.added(1);
    // The queue drained meanwhile: the estimate (5) would refuse, the fresh count accepts.
    state.waiting = 0;
    expect(await depth.admits(1, 5)).toEqual({ admitted: true, waiting: 0 });
    expect(state.reads).toBe(2);
    state.waiting = 5;
    state.now = 1000;
    expect(await depth.admits(1, 5)).toEqual({ admitted: false, waiting: 5 });
  });

  it('reads again once the count is older than maxAgeMs', async () => {
    const { state, depth } = counter(0);
    await depth.admits(1, 10);
    state.now = 101;
    state.waiting = 7;
    expect(await depth.admits(1, 10)).toEqual({ admitted: true, waiting: 7 });
    expect(state.reads).toBe(2);
  });

  it('shares one read among concurrent callers', async () => {
    const { state, depth } = counter(1);
    await Promise.all([depth.admits(1, 10), depth.admits(1, 10), depth.admits(1, 10)]);
    expect(state.reads).toBe(1);
  });
});
