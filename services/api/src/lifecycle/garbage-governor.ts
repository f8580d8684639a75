import type { FastifyBaseLogger } from 'fastify';

/** How often the buffers' total is read, ms: so that a burst of uploads overshoots little. */
const SAMPLE_MS = 20;

/**
 * When to collect: once the bytes held in buffers have grown by `afterBytes` over the lowest
 * total seen since the last collection (V8's own collections lower that mark too).
 */
export class BufferGrowth {
  private low = Number.POSITIVE_INFINITY;

  constructor(private readonly afterBytes: number) {}

  /** Whether to collect now, given the bytes held in buffers. */
  shouldCollect(bytes: number): boolean {
    this.low = Math.min(this.low, bytes);
    return bytes - this.low >= this.afterBytes;
  }

  /** What is left after a collection: the new mark. */
  collected(bytes: number): void {
    this.low = bytes;
  }
}

/**
 * V8 frees a Buffer only when it collects the object that owns it, and collects for memory
 * outside its heap only after some 64 MB more of it. Each upload's bytes and pixels outlive the
 * young generation's collections while the upload waits for its answer, so they pile up until
 * then. This runs a full collection itself once buffers have grown by `afterBytes` (node's
 * --expose-gc, from runtime.env); 0 leaves it to V8. Returns what stops it.
 */
export function startGarbageGovernor(afterBytes: number, log: FastifyBaseLogger): () => void {
  const gc = globalThis.gc;
  if (afterBytes === 0) return () => {};
  if (!gc) {
    log.warn(
      'GC_AFTER_BUFFERS_BYTES needs node --expose-gc (services/api/runtime.env): left to V8',
    );
    return () => {};
  }
  const growth = new BufferGrowth(afterBytes);
  const timer = setInterval(() => {
    if (growth.shouldCollect(process.memoryUsage().arrayBuffers)) {
      gc();
      growth.collected(process.memoryUsage().arrayBuffers);
    }
  }, SAMPLE_MS);
  timer.unref();
  return () => clearInterval(timer);
}
