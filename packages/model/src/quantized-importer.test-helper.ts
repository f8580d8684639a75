import { expect } from 'vitest';
import { ints } from './importer.test-helper.js';
import { BuiltinOperator } from './tflite/schema.js';
import {
  buildTfliteModel,
  type ModelSpec,
  type TensorSpec,
} from './tflite/tflite-builder.test-helper.js';
import * as ref from './tflite/tflite-kernels.test-helper.js';

// The int8 graph against TFLite's integer arithmetic (tflite-kernels.test-helper). The integer
// sums are the same; the requantization is not quite: TFLite rounds twice (a fixed-point
// multiply, then a rounding shift), onnxruntime once (a float multiply), so a value near a half
// step may round the other way, by one step at most.

/** The graph's float output back in the output tensor's uint8 steps. */
export const requantized = (data: number[], q: ref.Q) =>
  data.map((v) => Math.round(v / q.scale + q.zeroPoint));

export function expectWithinOneStep(actual: number[], expected: number[]) {
  expect(actual).toHaveLength(expected.length);
  const diffs = actual.map((v, i) => Math.abs(v - (expected[i] ?? Number.NaN)));
  expect(Math.max(...diffs)).toBeLessThanOrEqual(1);
  // Rounding differences are the exception, not the rule.
  expect(diffs.filter((d) => d > 0).length).toBeLessThanOrEqual(Math.ceil(actual.length / 5));
}

export const uint8 = (shape: number[], q: ref.Q, data?: number[]): TensorSpec => ({
  shape,
  type: 'UINT8',
  quantization: { scale: [q.scale], zeroPoint: [q.zeroPoint] },
  ...(data && { data }),
});

export function convSpec(opts: {
  x: ref.QImage;
  xq: ref.Q;
  weights: number[];
  wShape: number[];
  wq: ref.Q;
  bias: number[];
  yq: ref.Q;
  outShape: number[];
  stride: number;
  padding: 'SAME' | 'VALID';
  act: 'NONE' | 'RELU' | 'RELU6';
  depthwise?: boolean;
}): ModelSpec {
  const options = {
    padding: opts.padding,
    strideW: opts.stride,
    strideH: opts.stride,
    fusedActivation: opts.act,
    dilationW: 1,
    dilationH: 1,
  };
  return {
    tensors: [
      uint8([1, opts.x.h, opts.x.w, opts.x.c], opts.xq),
      uint8(opts.wShape, opts.wq, opts.weights),
      {
        shape: [opts.bias.length],
        type: 'INT32',
        data: opts.bias,
        quantization: { scale: [opts.xq.scale * opts.wq.scale], zeroPoint: [0] },
      },
      uint8(opts.outShape, opts.yq),
    ],
    operators: [
      opts.depthwise
        ? {
            builtinCode: BuiltinOperator.DEPTHWISE_CONV_2D,
            inputs: [0, 1, 2],
            outputs: [3],
            options: {
              kind: 'DepthwiseConv2DOptions',
              depthMultiplier: (opts.wShape[3] ?? 0) / opts.x.c,
              ...options,
            },
          }
        : {
            builtinCode: BuiltinOperator.CONV_2D,
            inputs: [0, 1, 2],
            outputs: [3],
            options: { kind: 'Conv2DOptions', ...options },
          },
    ],
    inputs: [0],
    outputs: [3],
  };
}

/**
 * A SAME stride-2 3x3 convolution of a 2x7x6x3 input to 4 channels with a fused RELU6, as a TFLite
 * model and TFLite's integers for it. The output's scale 0.03 and zero point 40 make ReLU6 clamp to
 * [40, 240], inside uint8's range; the weights are 0..maxWeight against zero point 122.
 */
export function relu6Conv(maxWeight: number) {
  const [n, h, w, c, o] = [2, 7, 6, 3, 4];
  const x: ref.QImage = { n, h, w, c, data: ints(n * h * w * c, 0, 254, 3) };
  const xq = { scale: 1 / 128, zeroPoint: 128 };
  const wq = { scale: 0.06, zeroPoint: 122 };
  const weights = ints(o * 3 * 3 * c, 0, maxWeight, 5);
  const bias = ints(o, -2000, 2000, 7);
  const yq = { scale: 0.03, zeroPoint: 40 };
  const spec = { x, xq, weights, wShape: [o, 3, 3, c], wq, bias, yq, stride: 2 };
  const expected = ref.conv({ ...spec, padding: 'SAME', range: [40, 240] });
  const outDims = [n, expected.h, expected.w, o];
  const tflite = buildTfliteModel(
    convSpec({ ...spec, padding: 'SAME', act: 'RELU6', outShape: [1, ...outDims.slice(1)] }),
  );
  return { tflite, pixels: x.data, dims: [n, h, w, c], outDims, yq, expected: expected.data };
}
