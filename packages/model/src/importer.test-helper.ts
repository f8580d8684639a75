import type { ModelPrecision } from '@imagerec/shared';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { convertTfliteToOnnx, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from './importer.js';
import { modelInput } from './model-input.js';
import type { Activation } from './tflite/float-kernels.test-helper.js';
import { BuiltinOperator } from './tflite/schema.js';
import type { ModelSpec } from './tflite/tflite-builder.test-helper.js';

/**
 * Converts `tflite` and runs the pixels through it in onnxruntime: the float output. RGB pixels
 * [N,H,W,3] are laid out for the model's input as the worker lays them (int8-fast takes 4).
 */
export async function run(
  tflite: Uint8Array,
  pixels: number[],
  dims: number[],
  precision: ModelPrecision = 'fp32',
) {
  const session = await ort.InferenceSession.create(convertTfliteToOnnx(tflite, precision));
  try {
    const [n = 1, h = 0, w = 0, c = 0] = dims;
    const [input] = session.inputMetadata;
    const channels = input?.isTensor ? Number(input.shape[3]) : c;
    const rgb = Uint8Array.from(pixels);
    const images = Array.from({ length: n }, (_, i) =>
      rgb.subarray(i * h * w * c, (i + 1) * h * w * c),
    );
    const data = channels === c ? rgb : modelInput(images, h * w * c, channels);
    const feeds = { [ONNX_INPUT_NAME]: new ort.Tensor('uint8', data, [n, h, w, channels]) };
    const out = (await session.run(feeds))[ONNX_OUTPUT_NAME];
    if (!out) throw new Error('no output');
    return { data: Array.from(out.data as Float32Array), dims: [...out.dims] };
  } finally {
    await session.release();
  }
}

/** Deterministic pseudo-random integers in [lo, hi]. */
export function ints(count: number, lo: number, hi: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return lo + (s % (hi - lo + 1));
  });
}

export function expectClose(actual: number[], expected: number[], tolerance = 1e-4) {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - (expected[i] ?? Number.NaN))));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

const identityInput = (shape: number[]) =>
  ({ shape, type: 'UINT8', quantization: { scale: [1], zeroPoint: [0] } }) as const;

export function convModel(opts: {
  inShape: number[];
  weights: number[];
  wShape: number[];
  bias?: number[];
  outShape: number[];
  stride: number;
  padding: 'SAME' | 'VALID';
  act?: Activation;
}): ModelSpec {
  return {
    tensors: [
      identityInput(opts.inShape),
      { shape: opts.wShape, type: 'FLOAT32', data: opts.weights },
      { shape: [opts.wShape[0] ?? 0], type: 'FLOAT32', data: opts.bias ?? [] },
      { shape: opts.outShape, type: 'FLOAT32' },
    ],
    operators: [
      {
        builtinCode: BuiltinOperator.CONV_2D,
        inputs: opts.bias ? [0, 1, 2] : [0, 1, -1],
        outputs: [3],
        options: {
          kind: 'Conv2DOptions',
          padding: opts.padding,
          strideW: opts.stride,
          strideH: opts.stride,
          fusedActivation: opts.act ?? 'NONE',
          dilationW: 1,
          dilationH: 1,
        },
      },
    ],
    inputs: [0],
    outputs: [3],
  };
}

export function firstOperator(spec: ModelSpec) {
  const op = spec.operators[0];
  if (!op) throw new Error('the model has no operator');
  return op;
}
