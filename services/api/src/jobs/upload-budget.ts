import { AppError, type JobPriority } from '@imagerec/shared';
import { E_TIMEOUT, Semaphore, type SemaphoreInterface, withTimeout } from 'async-mutex';

/**
 * The semaphore counts 64 KiB units, not bytes: async-mutex walks its waiters by weight, one
 * step per unit, so a byte-sized count would cost millions of steps a release.
 */
const UNIT_BYTES = 64 * 1024;

/**
 * How many upload bytes one API process holds at once, from reading a request's body until its
 * images are queued (their pixels in Redis) or it is answered. Without it, memory grew with the
 * number of requests in flight: 32 bulk requests of 16 photos held all their bytes and pixels at
 * once. A request that declares more than the whole budget waits until it has all of it.
 */
export class UploadBudget {
  private readonly units: number;
  private readonly semaphore: SemaphoreInterface;

  constructor(budgetBytes: number, waitMs: number) {
    this.units = Math.max(1, Math.floor(budgetBytes / UNIT_BYTES));
    this.semaphore = withTimeout(new Semaphore(this.units), waitMs);
  }

  /** The units a request of `bytes` takes: at least one, at most the whole budget. */
  unitsFor(bytes: number): number {
    return Math.min(this.units, Math.max(1, Math.ceil(bytes / UNIT_BYTES)));
  }

  /**
   * Waits until `bytes` are free, interactive uploads first (JobPriority: lower is sooner);
   * resolves to the release, which may be called any number of times. Throws UPLOADS_BUSY when
   * the wait runs out.
   */
  async acquire(bytes: number, priority: JobPriority): Promise<() => void> {
    try {
      // async-mutex serves the highest priority first.
      const [, release] = await this.semaphore.acquire(this.unitsFor(bytes), -priority);
      let held = true;
      return () => {
        if (held) release();
        held = false;
      };
    } catch (err) {
      if (err === E_TIMEOUT) throw new AppError('UPLOADS_BUSY');
      throw err;
    }
  }

  /** Bytes free now. */
  get freeBytes(): number {
    return this.semaphore.getValue() * UNIT_BYTES;
  }
}
