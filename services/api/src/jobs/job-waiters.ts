import type { ClassifyResult } from '@imagerec/shared';

/** How a job ended, as the queue's events tell it. */
export type JobOutcome =
  | { state: 'completed'; result: ClassifyResult }
  | { state: 'failed'; reason: string }
  | { state: 'removed' };

/**
 * Requests waiting for jobs to change state, keyed by job id. One QueueEvents subscription
 * per process calls `notify`; each waiter leaves the registry when woken or timed out,
 * so thousands of waiting requests hold no listener beyond their own entry.
 */
export class JobWaiters {
  private readonly waiting = new Map<string, Set<(outcome?: JobOutcome) => void>>();
  /** Waiters that `stop()` leaves waiting: requests shutdown lets finish. */
  private readonly draining = new Set<(outcome?: JobOutcome) => void>();
  private stopped = false;

  /**
   * `done` resolves with the job's outcome when it is notified, and with undefined when
   * `timeoutMs` passes first, at shutdown, or on cancel. Register before looking at the job's
   * state, so a change in between is not missed. A `drain` waiter (a sync predict, whose job
   * usually finishes within the shutdown's drain) is woken at shutdown by `stop({ all: true })`
   * only, so that its client gets the answer rather than a job to poll.
   */
  register(
    jobId: string,
    timeoutMs: number,
    { drain = false } = {},
  ): { done: Promise<JobOutcome | undefined>; cancel: () => void } {
    if (this.stopped && !drain) return { done: Promise.resolve(undefined), cancel: () => {} };
    let set = this.waiting.get(jobId);
    if (!set) {
      set = new Set();
      this.waiting.set(jobId, set);
    }
    const waiters = set;
    let wake: (outcome?: JobOutcome) => void = () => {};
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<JobOutcome | undefined>((resolve) => {
      wake = (outcome) => {
        clearTimeout(timer);
        waiters.delete(wake);
        this.draining.delete(wake);
        if (waiters.size === 0 && this.waiting.get(jobId) === waiters) this.waiting.delete(jobId);
        resolve(outcome);
      };
      timer = setTimeout(wake, Math.max(0, timeoutMs));
    });
    waiters.add(wake);
    if (drain) this.draining.add(wake);
    return { done, cancel: () => wake() };
  }

  notify(jobId: string, outcome?: JobOutcome): void {
    const set = this.waiting.get(jobId);
    if (!set) return;
    for (const wake of [...set]) wake(outcome);
  }

  /**
   * At shutdown: wakes every waiter but the draining ones (all of them with `all`), and later
   * ones do not wait, so requests answer at once.
   */
  stop({ all = false } = {}): void {
    this.stopped = true;
    for (const set of [...this.waiting.values()]) {
      for (const wake of [...set]) if (all || !this.draining.has(wake)) wake();
    }
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get size(): number {
    let n = 0;
    for (const set of this.waiting.values()) n += set.size;
    return n;
  }
}
