import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobWaiters } from './job-waiters.js';

describe('JobWaiters', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('wakes every waiter of a job and only that job', async () => {
    const waiters = new JobWaiters();
    const a1 = waiters.register('a', 1000).done;
    const a2 = waiters.register('a', 1000).done;
    const b = waiters.register('b', 1000).done;
    waiters.notify('a');
    await expect(a1).resolves.toBe(true);
    await expect(a2).resolves.toBe(true);
    expect(waiters.size).toBe(1);
    vi.advanceTimersByTime(1000);
    await expect(b).resolves.toBe(false);
  });

  it('times out and leaves nothing behind under thousands of waiters', async () => {
    const waiters = new JobWaiters();
    const all = Array.from({ length: 5000 }, (_, i) => waiters.register(`job-${i % 100}`, 50).done);
    expect(waiters.size).toBe(5000);
    vi.advanceTimersByTime(50);
    expect(await Promise.all(all)).toEqual(Array(5000).fill(false));
    expect(waiters.size).toBe(0);
  });

  it('ignores notifications for jobs nobody waits for, and wakes all at shutdown', async () => {
    const waiters = new JobWaiters();
    waiters.notify('nobody');
    const pending = [waiters.register('x', 10_000).done, waiters.register('y', 10_000).done];
    waiters.stop();
    expect(await Promise.all(pending)).toEqual([true, true]);
    expect(waiters.size).toBe(0);
    await expect(waiters.register('z', 10_000).done).resolves.toBe(false);
    expect(waiters.size).toBe(0);
  });

  it('lets a waiter cancel itself', async () => {
    const waiters = new JobWaiters();
    const waiter = waiters.register('z', 10_000);
    waiter.cancel();
    await waiter.done;
    expect(waiters.size).toBe(0);
  });
});
