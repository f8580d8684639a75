import { expect } from 'vitest';
import { BuiltinOperator } from './tflite/schema.js';
import type { ModelSpec, TensorSpec } from './tflite/tflite-builder.test-helper.js';
import type * as ref from './tflite/tflite-kernels.test-helper.js';

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
