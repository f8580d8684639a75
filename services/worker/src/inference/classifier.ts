import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from '@imagerec/model';
import { MODEL_SPEC, type Prediction } from '@imagerec/shared';
import * as ort from 'onnxruntime-node';
import { topK } from './top-k.js';

const SIZE = MODEL_SPEC.inputSize;
/** Bytes of one preprocessed image: SIZE x SIZE RGB, uint8, HWC. */
export const IMAGE_BYTES = SIZE * SIZE * 3;

export interface ClassifierOptions {
  onnxPath: string;
  labels: readonly string[];
  /** Threads onnxruntime uses inside one run. */
  intraOpThreads: number;
}

/** The converted model in one onnxruntime session; each call runs a whole batch at once. */
export class Classifier {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly labels: readonly string[],
  ) {}

  static async create(opts: ClassifierOptions): Promise<Classifier> {
    const session = await ort.InferenceSession.create(opts.onnxPath, {
      intraOpNumThreads: opts.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Idle intra-op threads otherwise spin on the cores the API and database share.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return new Classifier(session, opts.labels);
  }

  /** Top-k predictions per image, in the order of `batch`. */
  async classify(batch: Uint8Array[], k: number): Promise<Prediction[][]> {
    if (batch.length === 0) return [];
    const pixels = new Uint8Array(batch.length * IMAGE_BYTES);
    batch.forEach((image, i) => {
      if (image.length !== IMAGE_BYTES) {
        throw new Error(
          `Image ${i} of the batch has ${image.length} bytes, expected ${IMAGE_BYTES}`,
        );
      }
      pixels.set(image, i * IMAGE_BYTES);
    });
    const input = new ort.Tensor('uint8', pixels, [batch.length, SIZE, SIZE, 3]);
    const outputs = await this.session.run({ [ONNX_INPUT_NAME]: input });
    const output = outputs[ONNX_OUTPUT_NAME];
    if (!output) throw new Error(`The model returned no "${ONNX_OUTPUT_NAME}" output`);
    const probabilities = output.data as Float32Array;
    const classes = probabilities.length / batch.length;
    if (classes !== this.labels.length) {
      throw new Error(
        `The model scores ${classes} classes but there are ${this.labels.length} labels`,
      );
    }
    return batch.map((_, i) =>
      topK(probabilities.subarray(i * classes, (i + 1) * classes), this.labels, k),
    );
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
