import { describe, expect, it } from 'vitest';
import { convertTfliteToOnnx } from './importer.js';
import { run } from './importer.test-helper.js';
import { onnx } from './onnx-graph.js';
import {
  convSpec,
  expectWithinOneStep,
  relu6Conv,
  requantized,
} from './quantized-importer.test-helper.js';
import { buildTfliteModel } from './tflite/tflite-builder.test-helper.js';

describe('convertTfliteToOnnx, int8 weights', () => {
  /** A 1x1 convolution to two channels whose uint8 weights are 0 and 255 (zero point 113). */
  const twoChannels = () =>
    buildTfliteModel(
      convSpec({
        x: { n: 1, h: 2, w: 2, c: 1, data: [] },
        xq: { scale: 1 / 128, zeroPoint: 128 },
        weights: [0, 255],
        wShape: [2, 1, 1, 1],
        wq: { scale: 0.5, zeroPoint: 113 },
        bias: [7, -7],
        yq: { scale: 0.1, zeroPoint: 5 },
        outShape: [1, 2, 2, 2],
        stride: 1,
        padding: 'VALID',
        act: 'NONE',
      }),
    );

  it("keeps TFLite's quantization: uint8 activations, int8 weights at zero point z - 128, int32 bias", () => {
    const tflite = twoChannels();
    const {
      node = [],
      initializer = [],
      input = [],
      output = [],
    } = onnx.ModelProto.decode(convertTfliteToOnnx(tflite, 'int8')).graph ?? {};
    const { DataType } = onnx.TensorProto;
    const conv = (node ?? []).find((n) => n.opType === 'QLinearConv');
    const init = (name: string | undefined) => (initializer ?? []).find((t) => t.name === name);
    const [, , , weight, , weightZeroPoint, , , bias] = conv?.input ?? [];
    expect(init(weight)?.dataType).toBe(DataType.INT8);
    expect(Array.from(new Int8Array(init(weight)?.rawData ?? []))).toEqual([-128, 127]);
    expect(Array.from(new Int8Array(init(weightZeroPoint)?.rawData ?? []))).toEqual([113 - 128]);
    expect(init(bias)?.dataType).toBe(DataType.INT32);
    expect(input?.[0]?.type?.tensorType?.elemType).toBe(DataType.UINT8);
    expect(output?.[0]?.type?.tensorType?.elemType).toBe(DataType.FLOAT);
    expect((node ?? []).some((n) => n.opType === 'Clip')).toBe(false);
  });

  it('int8-fast: symmetric int8 weights per output channel, exact where w - z fits int8', () => {
    const tflite = twoChannels();
    const { node = [], initializer = [] } =
      onnx.ModelProto.decode(convertTfliteToOnnx(tflite, 'int8-fast')).graph ?? {};
    const conv = (node ?? []).find((n) => n.opType === 'QLinearConv');
    const raw = (name: string | undefined) =>
      (initializer ?? []).find((t) => t.name === name)?.rawData ?? new Uint8Array();
    const [, , , weight, weightScale, weightZeroPoint, , , bias] = conv?.input ?? [];
    // Channel 0: 0 - 113 fits and stays; channel 1: 255 - 113 = 142 is divided by 142 / 127.
    expect(Array.from(new Int8Array(raw(weight)))).toEqual([-113, 127]);
    const scales = new Float32Array(Uint8Array.from(raw(weightScale)).buffer);
    expect(scales[0]).toBe(0.5);
    expect(scales[1]).toBeCloseTo((0.5 * 142) / 127, 6);
    expect(Array.from(new Int8Array(raw(weightZeroPoint)))).toEqual([0, 0]);
    // The bias follows its channel's scale: -7 x 127 / 142 = -6.26.
    expect(Array.from(new Int32Array(Uint8Array.from(raw(bias)).buffer))).toEqual([7, -6]);
  });

  it("int8-fast: where the weights fit, a RELU6 convolution gives TFLite's integers", async () => {
    // Zero point 122 and weights up to 249: every w - z lies in -122..127.
    const conv = relu6Conv(249);
    const out = await run(conv.tflite, conv.pixels, conv.dims, 'int8-fast');
    expectWithinOneStep(requantized(out.data, conv.yq), conv.expected);
  });

  it('int8-fast: an RGB input takes a fourth channel, whose weights are zero; int8 keeps three', () => {
    const { tflite } = relu6Conv(249);
    const graph = (precision: 'int8' | 'int8-fast') => {
      const {
        node = [],
        initializer = [],
        input = [],
      } = onnx.ModelProto.decode(convertTfliteToOnnx(tflite, precision)).graph ?? {};
      const weight = (node ?? []).find((n) => n.opType === 'QLinearConv')?.input?.[3];
      const w = (initializer ?? []).find((t) => t.name === weight);
      const dims = input?.[0]?.type?.tensorType?.shape?.dim ?? [];
      return {
        channels: Number(dims[3]?.dimValue),
        weightDims: (w?.dims ?? []).map(Number),
        weights: new Int8Array(Uint8Array.from(w?.rawData ?? []).buffer),
      };
    };
    const [int8, fast] = [graph('int8'), graph('int8-fast')];
    expect(int8.channels).toBe(3);
    expect(int8.weightDims).toEqual([4, 3, 3, 3]);
    expect(fast.channels).toBe(4);
    expect(fast.weightDims).toEqual([4, 4, 3, 3]);
    // [output][input channel][3x3]: each output's fourth input channel is all zero.
    const fourth = [0, 1, 2, 3].flatMap((o) =>
      Array.from(fast.weights.subarray(o * 36 + 27, o * 36 + 36)),
    );
    expect(fourth).toEqual(new Array(36).fill(0));
    expect(fast.weights.some((v) => v !== 0)).toBe(true);
  });
});
