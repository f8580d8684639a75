export interface BatcherOptions<I, O> {
  /** Most items in one run. */
  maxBatch: number;
  /**
   * Longest wait for a batch to fill while nothing runs, from its first item. 0 starts a batch
   * at once (with whatever arrived in the same turn of the event loop).
   */
  maxDelayMs: number;
  /** Handles one batch; must return one output per item, in order. */
  run: (items: I[]) => Promise<O[]>;
}

interface Pending<I, O> {
  item: I;
  arrivedAt: number;
  resolve: (output: O) => void;
  reject: (err: unknown) => void;
}

export class BatcherClosedError extends Error {
  constructor() {
    super('The batcher is closed');
    this.name = 'BatcherClosedError';
  }
}

/**
 * Dynamic batching: while a batch runs, the next gathers, and it runs as soon as the current one
 * ends (at most maxBatch items), so runs never compete for the same cores. An idle batcher starts
 * at once, or after maxDelayMs from its first item when that is set.
 */
export class Batcher<I, O> {
  private readonly opts: BatcherOptions<I, O>;
  private pending: Pending<I, O>[] = [];
  /** Cancels the armed wait for the head item, if any. */
  private cancelTimer: (() => void) | undefined;
  private running = false;
  private draining = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: BatcherOptions<I, O>) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${opts.maxBatch}`);
    }
    if (opts.maxDelayMs < 0)
      throw new RangeError(`maxDelayMs must be >= 0, got ${opts.maxDelayMs}`);
    this.opts = opts;
  }

  /** Items waiting for a batch (not counting the running one). */
  get size(): number {
    return this.pending.length;
  }

  add(item: I): Promise<O> {
    if (this.closed) return Promise.reject(new BatcherClosedError());
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, arrivedAt: Date.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Runs what is pending without waiting for the delay; resolves once nothing is left. */
  async drain(): Promise<void> {
    if (!this.running && this.pending.length === 0) return;
    this.draining = true;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.schedule();
    await idle;
  }

  /** Refuses new items, then drains. */
  close(): Promise<void> {
    this.closed = true;
    return this.drain();
  }

  private schedule(): void {
    if (this.running || this.pending.length === 0) return;
    if (this.pending.length >= this.opts.maxBatch || this.draining) {
      this.flush();
    } else if (!this.cancelTimer) {
      // Armed for the head item; only a flush changes the head, and it clears the timer.
      const head = this.pending[0] as Pending<I, O>;
      const waitMs = Math.max(0, head.arrivedAt + this.opts.maxDelayMs - Date.now());
      const fire = () => {
        this.cancelTimer = undefined;
        if (!this.running) this.flush();
      };
      // setTimeout(0) would still wait a millisecond; an immediate runs after this turn's I/O.
      if (this.opts.maxDelayMs === 0) {
        const immediate = setImmediate(fire);
        this.cancelTimer = () => clearImmediate(immediate);
      } else {
        const timeout = setTimeout(fire, waitMs);
        this.cancelTimer = () => clearTimeout(timeout);
      }
    }
  }

  private flush(): void {
    this.clearTimer();
    const batch = this.pending.splice(0, this.opts.maxBatch);
    this.running = true;
    void this.runBatch(batch).finally(() => {
      this.running = false;
      if (this.pending.length > 0) {
        // Whatever gathered during the run has waited long enough.
        this.flush();
      } else {
        this.draining = false;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    });
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private async runBatch(batch: Pending<I, O>[]): Promise<void> {
    try {
      const outputs = await this.opts.run(batch.map((p) => p.item));
      if (outputs.length !== batch.length) {
        throw new Error(`Batch run returned ${outputs.length} outputs for ${batch.length} items`);
      }
      batch.forEach((p, i) => {
        p.resolve(outputs[i] as O);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
