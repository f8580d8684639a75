import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type JobOutcome, JobWaiters } from './job-waiters.js';

const failed: JobOutcome = { state: 'failed', reason: 'broken' };
const removed: JobOutcome = { state: 'removed' };

describe('JobWaiters', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('wakes every waiter of a job and only that job', async () => {
    const waiters = new JobWaiters();
    const a1 = waiters.register('a', 1000).done;
    const a2 = waiters.register('a', 1000).done;
    const b = waiters.register('b', 1000).done;
    waiters.notify('a', failed);
    await expect(a1).resolves.toEqual(failed);
    await expect(a2).resolves.toEqual(failed);
    expect(waiters.size).toBe(1);
    vi.advanceTimersByTime(1000);
    await expect(b).resolves.toBeUndefined();
  });

  it('times out and leaves nothing behind under thousands of waiters', async () => {
    const waiters = new JobWaiters();
    const all = Array.from({ length: 5000 }, (_, i) => waiters.register(`job-${i % 100}`, 50).done);
    expect(waiters.size).toBe(5000);
    vi.advanceTimersByTime(50);
    expect(await Promise.all(all)).toEqual(Array(5000).fill(undefined));
    expect(waiters.size).toBe(0);
  });

  it('ignores notifications for jobs nobody waits for, and wakes all at shutdown', async () => {
    const waiters = new JobWaiters();
    waiters.notify('nobody', failed);
    const pending = [waiters.register('x', 10_000).done, waiters.register('y', 10_000).done];
    waiters.stop();
    expect(await Promise.all(pending)).toEqual([undefined, undefined]);
    expect(waiters.size).toBe(0);
    await expect(waiters.register('z', 10_000).done).resolves.toBeUndefined();
    expect(waiters.size).toBe(0);
  });

  it('leaves draining waiters (sync predicts) waiting at shutdown until stop({ all: true })', async () => {
    const waiters = new JobWaiters();
    const longPoll = waiters.register('a', 10_000).done;
    const predict = waiters.register('b', 10_000, { drain: true }).done;
    waiters.stop();
    await expect(longPoll).resolves.toBeUndefined();
    expect(waiters.size).toBe(1);
    // Its job finishing during the drain still reaches it, as does one registered after stop.
    const late = waiters.register('c', 10_000, { drain: true }).done;
    waiters.notify('b', removed);
    await expect(predict).resolves.toEqual(removed);
    waiters.stop({ all: true });
    await expect(late).resolves.toBeUndefined();
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
