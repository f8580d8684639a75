/**
 * The number of jobs waiting, for admission control, without a read of Redis per request: a
 * count read within `maxAgeMs`, plus what this process has added since, is enough to accept.
 * A refusal is never made on that estimate: it reads the count again first, so jobs taken or
 * removed meanwhile are seen. Other API processes' submissions within `maxAgeMs` are what the
 * estimate can miss, so the bound can be passed by at most their share of that window.
 */
export class QueueDepth {
  private count = 0;
  private readAt = Number.NEGATIVE_INFINITY;
  private addedSinceRead = 0;
  private reading: Promise<number> | undefined;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `adding` more jobs keeps the waiting ones within `max`; returns the count it judged by. */
  async admits(adding: number, max: number): Promise<{ admitted: boolean; waiting: number }> {
    if (this.now() - this.readAt <= this.maxAgeMs) {
      const estimate = this.count + this.addedSinceRead;
      if (estimate + adding <= max) return { admitted: true, waiting: estimate };
    }
    const waiting = await this.fresh();
    return { admitted: waiting + adding <= max, waiting };
  }

  /** Counts jobs this process queued, until the next read includes them. */
  added(n: number): void {
    this.addedSinceRead += n;
  }

  /** One read at a time: concurrent callers share it. */
  private fresh(): Promise<number> {
    this.reading ??= (async () => {
      const startedAt = this.now();
      const added = this.addedSinceRead;
      try {
        this.count = await this.read();
        this.readAt = startedAt;
        // What was added while the read ran may or may not be in it: keep counting it.
        this.addedSinceRead -= added;
        return this.count;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}
