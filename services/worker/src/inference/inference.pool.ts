import { fileURLToPath } from 'node:url';
import { MODEL_SPEC } from '@imagerec/shared';
import { Piscina } from 'piscina';
import type { InferenceOutput, InferenceTask, InferenceThreadData } from './inference-thread.js';

export type { InferenceOutput } from './inference-thread.js';

// Run from the TypeScript sources (vitest), the thread still has to be plain JS: the build's.
const THREAD_FILE = fileURLToPath(
  new URL(
    import.meta.url.endsWith('.ts')
      ? '../../dist/inference/inference-thread.js'
      : './inference-thread.js',
    import.meta.url,
  ),
);

/**
 * The classifier on a thread of its own, so a batch's inference never blocks the event loop
 * that renews the queue's job locks. One thread: onnxruntime's intra-op threads use the cores.
 */
export class InferencePool {
  private constructor(private readonly pool: Piscina<InferenceTask, InferenceOutput>) {}

  /** Starts the thread and runs one image through it, so a broken model fails here. */
  static async start(data: InferenceThreadData): Promise<InferencePool> {
    const pool = new Piscina<InferenceTask, InferenceOutput>({
      filename: THREAD_FILE,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: data,
    });
    const inference = new InferencePool(pool);
    try {
      await inference.classify([new Uint8Array(MODEL_SPEC.inputBytes)], 1);
    } catch (err) {
      await pool.destroy();
      throw err;
    }
    return inference;
  }

  /** One inference call for the whole batch; the images are copied once into one transfer. */
  async classify(images: Uint8Array[], topK: number): Promise<InferenceOutput> {
    const lengths = images.map((image) => image.byteLength);
    const packed = new Uint8Array(lengths.reduce((sum, n) => sum + n, 0));
    let offset = 0;
    for (const image of images) {
      packed.set(image, offset);
      offset += image.byteLength;
    }
    const output = await this.pool.run(
      { pixels: packed.buffer, lengths, topK },
      { transferList: [packed.buffer] },
    );
    if (output.predictions.length !== images.length) {
      throw new Error(
        `Inference returned ${output.predictions.length} results for ${images.length} images`,
      );
    }
    return output;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
