// Only types and a module that imports nothing from the workspace packages: this module runs on
// the inference thread, which should load onnxruntime and little else (the packages would add
// some 60 MB to each thread).
import { modelInput, PIXEL_CHANNELS } from '@imagerec/model/model-input';
import type { Prediction } from '@imagerec/shared';
import * as ort from 'onnxruntime-node';
import { topK } from './top-k.js';

export interface ClassifierOptions {
  onnxPath: string;
  labels: readonly string[];
  /** Threads onnxruntime uses inside one run. */
  intraOpThreads: number;
}

/** The model's input and output, as its session describes them: uint8 [N,size,size,3 or 4] in. */
function describe(session: ort.InferenceSession) {
  const [input] = session.inputMetadata;
  const [output] = session.outputNames;
  const [, size, , channels] = input?.isTensor ? input.shape : [];
  if (
    !input?.isTensor ||
    input.type !== 'uint8' ||
    typeof size !== 'number' ||
    typeof channels !== 'number' ||
    !output
  ) {
    throw new Error('The model does not take uint8 images [N,size,size,channels]');
  }
  return { input: input.name, output, size, channels, imageBytes: size * size * PIXEL_CHANNELS };
}

/** The converted model in one onnxruntime session; each call runs a whole batch at once. */
export class Classifier {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly labels: readonly string[],
    private readonly io: ReturnType<typeof describe>,
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
    return new Classifier(session, opts.labels, describe(session));
  }

  /** Top-k predictions per image, in the order of `batch`. */
  async classify(batch: Uint8Array[], k: number): Promise<Prediction[][]> {
    if (batch.length === 0) return [];
    const { size, channels, imageBytes } = this.io;
    const pixels = modelInput(batch, imageBytes, channels);
    const input = new ort.Tensor('uint8', pixels, [batch.length, size, size, channels]);
    const outputs = await this.session.run({ [this.io.input]: input });
    const output = outputs[this.io.output];
    if (!output) throw new Error(`The model returned no "${this.io.output}" output`);
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
