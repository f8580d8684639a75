import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher, BatcherClosedError } from './batcher.js';

/** A run whose batches the test finishes by hand. */
function controlledRun() {
  const calls: { items: number[]; finish: () => void; fail: (err: Error) => void }[] = [];
  const run = vi.fn(
    (items: number[]) =>
      new Promise<string[]>((resolve, reject) => {
        calls.push({
          items,
          finish: () => resolve(items.map((i) => `out-${i}`)),
          fail: reject,
        });
      }),
  );
  return { run, calls };
}

const double = async (items: number[]) => items.map((i) => i * 2);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Batcher', () => {
  it('flushes as soon as maxBatch items are pending', async () => {
    const run = vi.fn(double);
    const batcher = new Batcher({ maxBatch: 3, maxDelayMs: 1000, run });
    const results = Promise.all([1, 2, 3].map((i) => batcher.add(i)));
    expect(run).toHaveBeenCalledTimes(1);
    expect(run).toHaveBeenCalledWith([1, 2, 3]);
    await expect(results).resolves.toEqual([2, 4, 6]);
  });

  it('flushes a partial batch maxDelayMs after its first item arrived', async () => {
    const run = vi.fn(double);
    const batcher = new Batcher({ maxBatch: 10, maxDelayMs: 50, run });
    const first = batcher.add(1);
    await vi.advanceTimersByTimeAsync(30);
    const second = batcher.add(2);
    await vi.advanceTimersByTimeAsync(19);
    expect(run).not.toHaveBeenCalled();
    // 50 ms after the first item, not after the second.
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledWith([1, 2]);
    await expect(Promise.all([first, second])).resolves.toEqual([2, 4]);
  });

  it('gathers items added in the same tick when maxDelayMs is 0', async () => {
    const run = vi.fn(double);
    const batcher = new Batcher({ maxBatch: 10, maxDelayMs: 0, run });
    const results = Promise.all([1, 2].map((i) => batcher.add(i)));
    expect(run).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledWith([1, 2]);
    await expect(results).resolves.toEqual([2, 4]);
  });

  it('resolves each item with its own output, in order', async () => {
    const batcher = new Batcher({
      maxBatch: 4,
      maxDelayMs: 10,
      run: async (items: string[]) => items.map((s) => s.toUpperCase()),
    });
    const results = Promise.all(['a', 'b', 'c'].map((s) => batcher.add(s)));
    await vi.advanceTimersByTimeAsync(10);
    await expect(results).resolves.toEqual(['A', 'B', 'C']);
  });

  it('never runs two batches at once; the next gathers meanwhile and runs when the first ends', async () => {
    const { run, calls } = controlledRun();
    const batcher = new Batcher({ maxBatch: 2, maxDelayMs: 5, run });
    const a = [batcher.add(1), batcher.add(2)];
    expect(calls).toHaveLength(1);

    const b = [batcher.add(3), batcher.add(4), batcher.add(5)];
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(1);
    expect(batcher.size).toBe(3);

    calls[0]?.finish();
    await expect(Promise.all(a)).resolves.toEqual(['out-1', 'out-2']);
    // Full batch first; the rest waits for that one to end.
    expect(calls).toHaveLength(2);
    expect(calls[1]?.items).toEqual([3, 4]);

    calls[1]?.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(3);
    expect(calls[2]?.items).toEqual([5]);
    calls[2]?.finish();
    await expect(Promise.all(b)).resolves.toEqual(['out-3', 'out-4', 'out-5']);
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('runs what gathered during a run as soon as that run ends, without a new delay', async () => {
    const { calls, run } = controlledRun();
    const batcher = new Batcher({ maxBatch: 10, maxDelayMs: 50, run });
    void batcher.add(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10);
    const late = batcher.add(2);
    calls[0]?.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(2);
    calls[1]?.finish();
    await expect(late).resolves.toBe('out-2');
  });

  it('rejects every item of a batch whose run throws, and carries on with the next', async () => {
    let fail = true;
    const batcher = new Batcher({
      maxBatch: 2,
      maxDelayMs: 5,
      run: async (items: number[]) => {
        if (fail) throw new Error('boom');
        return items;
      },
    });
    const failed = [batcher.add(1), batcher.add(2)].map((p) => expect(p).rejects.toThrow('boom'));
    await Promise.all(failed);
    fail = false;
    const ok = batcher.add(3);
    await vi.advanceTimersByTimeAsync(5);
    await expect(ok).resolves.toBe(3);
  });

  it('rejects a synchronous throw of run like an asynchronous one', async () => {
    const batcher = new Batcher<number, number>({
      maxBatch: 1,
      maxDelayMs: 0,
      run: () => {
        throw new Error('sync boom');
      },
    });
    await expect(batcher.add(1)).rejects.toThrow('sync boom');
  });

  it('rejects the batch when run returns the wrong number of outputs', async () => {
    const batcher = new Batcher({ maxBatch: 2, maxDelayMs: 5, run: async () => [1] });
    const results = [batcher.add(1), batcher.add(2)].map((p) =>
      expect(p).rejects.toThrow('returned 1 outputs for 2 items'),
    );
    await Promise.all(results);
  });

  it('drain runs pending items at once and waits for them', async () => {
    const run = vi.fn(double);
    const batcher = new Batcher({ maxBatch: 10, maxDelayMs: 60_000, run });
    const results = Promise.all([1, 2].map((i) => batcher.add(i)));
    await batcher.drain();
    expect(run).toHaveBeenCalledWith([1, 2]);
    await expect(results).resolves.toEqual([2, 4]);
  });

  it('drain waits for the running batch and everything gathered behind it', async () => {
    const { calls, run } = controlledRun();
    const batcher = new Batcher({ maxBatch: 1, maxDelayMs: 60_000, run });
    void batcher.add(1);
    void batcher.add(2);
    let drained = false;
    const draining = batcher.drain().then(() => {
      drained = true;
    });
    calls[0]?.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(drained).toBe(false);
    calls[1]?.finish();
    await draining;
    expect(drained).toBe(true);
  });

  it('drain resolves at once when idle', async () => {
    const batcher = new Batcher({ maxBatch: 2, maxDelayMs: 5, run: double });
    await expect(batcher.drain()).resolves.toBeUndefined();
  });

  it('after drain, delays apply again', async () => {
    const run = vi.fn(double);
    const batcher = new Batcher({ maxBatch: 10, maxDelayMs: 50, run });
    void batcher.add(1);
    await batcher.drain();
    void batcher.add(2);
    await vi.advanceTimersByTimeAsync(49);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it('close finishes pending work and refuses new items', async () => {
    const run = vi.fn(double);
    const batcher = new Batcher({ maxBatch: 10, maxDelayMs: 60_000, run });
    const pending = batcher.add(1);
    await batcher.close();
    await expect(pending).resolves.toBe(2);
    await expect(batcher.add(2)).rejects.toBeInstanceOf(BatcherClosedError);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('refuses invalid options', () => {
    expect(() => new Batcher({ maxBatch: 0, maxDelayMs: 5, run: double })).toThrow(RangeError);
    expect(() => new Batcher({ maxBatch: 2, maxDelayMs: -1, run: double })).toThrow(RangeError);
  });
});
