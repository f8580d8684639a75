import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { convertTfliteToOnnx, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from './importer.js';
import { onnx } from './onnx-graph.js';
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

async function run(
  tflite: Uint8Array,
  pixels: number[],
  dims: number[],
  precision: 'int8' | 'int8-fast' | 'int8-exact' = 'int8',
) {
  const session = await ort.InferenceSession.create(convertTfliteToOnnx(tflite, precision));
  try {
    const feeds = { [ONNX_INPUT_NAME]: new ort.Tensor('uint8', Uint8Array.from(pixels), dims) };
    const out = (await session.run(feeds))[ONNX_OUTPUT_NAME];
    if (!out) throw new Error('no output');
    return { data: Array.from(out.data as Float32Array), dims: [...out.dims] };
  } finally {
    await session.release();
  }
}

/** The graph's float output back in the output tensor's uint8 steps. */
const requantized = (data: number[], q: ref.Q) =>
  data.map((v) => Math.round(v / q.scale + q.zeroPoint));

function expectWithinOneStep(actual: number[], expected: number[]) {
  expect(actual).toHaveLength(expected.length);
  const diffs = actual.map((v, i) => Math.abs(v - (expected[i] ?? Number.NaN)));
  expect(Math.max(...diffs)).toBeLessThanOrEqual(1);
  // Rounding differences are the exception, not the rule.
  expect(diffs.filter((d) => d > 0).length).toBeLessThanOrEqual(Math.ceil(actual.length / 5));
}

/** Deterministic pseudo-random integers in [lo, hi]. */
function ints(count: number, lo: number, hi: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return lo + (s % (hi - lo + 1));
  });
}

const uint8 = (shape: number[], q: ref.Q, data?: number[]): TensorSpec => ({
  shape,
  type: 'UINT8',
  quantization: { scale: [q.scale], zeroPoint: [q.zeroPoint] },
  ...(data && { data }),
});

function convSpec(opts: {
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

describe('convertTfliteToOnnx, int8', () => {
  // int8 requantizes like onnxruntime (one float rounding), int8-exact like TFLite.
  describe.each([
    ['int8', expectWithinOneStep],
    ['int8-exact', (actual: number[], expected: number[]) => expect(actual).toEqual(expected)],
  ] as const)('%s', (precision, expectClose) => {
    it("runs a SAME stride-2 convolution in TFLite's integers, clamped by a fused RELU6", async () => {
      const [n, h, w, c, o] = [2, 7, 6, 3, 4];
      const x: ref.QImage = { n, h, w, c, data: ints(n * h * w * c, 0, 254, 3) };
      const xq = { scale: 1 / 128, zeroPoint: 128 };
      const wq = { scale: 0.06, zeroPoint: 122 };
      const weights = ints(o * 3 * 3 * c, 0, 250, 5);
      const bias = ints(o, -2000, 2000, 7);
      // Scale 0.03, zero point 40: ReLU6 clamps to [40, 240], inside uint8's range.
      const yq = { scale: 0.03, zeroPoint: 40 };
      const spec = { x, xq, weights, wShape: [o, 3, 3, c], wq, bias, yq, stride: 2 };
      const expected = ref.conv({ ...spec, padding: 'SAME', range: [40, 240] });
      expect(expected.data).toContain(40);
      expect(expected.data).toContain(240);
      const tflite = buildTfliteModel(
        convSpec({
          ...spec,
          padding: 'SAME',
          act: 'RELU6',
          outShape: [1, expected.h, expected.w, o],
        }),
      );
      const out = await run(tflite, x.data, [n, h, w, c], precision);
      expect(out.dims).toEqual([n, expected.h, expected.w, o]);
      expectClose(requantized(out.data, yq), expected.data);
    });

    it('runs a VALID depthwise convolution with depth multiplier 2', async () => {
      const [n, h, w, c, m] = [1, 6, 6, 3, 2];
      const x: ref.QImage = { n, h, w, c, data: ints(n * h * w * c, 0, 255, 11) };
      const xq = { scale: 0.0235, zeroPoint: 0 };
      const wq = { scale: 0.34, zeroPoint: 165 };
      const weights = ints(3 * 3 * c * m, 100, 230, 13);
      const bias = ints(c * m, -300, 300, 17);
      const yq = { scale: 0.25, zeroPoint: 120 };
      const spec = { x, xq, weights, wShape: [1, 3, 3, c * m], wq, bias, yq, stride: 1 };
      const expected = ref.conv({ ...spec, padding: 'VALID', range: [0, 255], depthwise: true });
      const tflite = buildTfliteModel(
        convSpec({
          ...spec,
          padding: 'VALID',
          act: 'NONE',
          depthwise: true,
          outShape: [1, expected.h, expected.w, c * m],
        }),
      );
      const out = await run(tflite, x.data, [n, h, w, c], precision);
      expect(out.dims).toEqual([n, 4, 4, c * m]);
      expectClose(requantized(out.data, yq), expected.data);
    });

    it('adds two tensors of different scales and clamps a fused RELU', async () => {
      // out = relu(x + conv1x1(x)), each side with its own quantization.
      const [h, w, c] = [4, 4, 2];
      const x: ref.QImage = { n: 1, h, w, c, data: ints(h * w * c, 0, 255, 19) };
      const xq = { scale: 0.05, zeroPoint: 128 };
      const cq = { scale: 0.08, zeroPoint: 100 };
      const yq = { scale: 0.07, zeroPoint: 90 };
      const conv1x1 = {
        x,
        xq,
        weights: [228, 78, 128, 178],
        wShape: [c, 1, 1, c],
        wq: { scale: 0.01, zeroPoint: 128 },
        bias: [0, 0],
        yq: cq,
        stride: 1,
        padding: 'VALID' as const,
      };
      const convOut = ref.conv({ ...conv1x1, range: [0, 255] });
      const expected = ref.add(x.data, xq, convOut.data, cq, yq, [90, 255]);
      expect(expected).toContain(90);
      const spec = convSpec({ ...conv1x1, outShape: [1, h, w, c], act: 'NONE' });
      spec.tensors.push(uint8([1, h, w, c], yq));
      spec.operators.push({
        builtinCode: BuiltinOperator.ADD,
        inputs: [0, 3],
        outputs: [4],
        options: { kind: 'AddOptions', fusedActivation: 'RELU' },
      });
      spec.outputs = [4];
      const out = await run(buildTfliteModel(spec), x.data, [1, h, w, c], precision);
      expectClose(requantized(out.data, yq), expected);
    });
  });

  it('pools (global and windowed), reshapes and answers float softmax probabilities', async () => {
    const [n, h, w, c] = [2, 5, 5, 4];
    const q = { scale: 0.1, zeroPoint: 3 };
    const x: ref.QImage = { n, h, w, c, data: ints(n * h * w * c, 0, 255, 23) };
    const pool = (size: number, stride: number, padding: 'SAME' | 'VALID') =>
      ({
        kind: 'Pool2DOptions',
        padding,
        strideW: stride,
        strideH: stride,
        filterWidth: size,
        filterHeight: size,
        fusedActivation: 'NONE',
      }) as const;
    const model = (options: ReturnType<typeof pool>, pooled: number[]): ModelSpec => ({
      tensors: [
        uint8([1, h, w, c], q),
        uint8([1, ...pooled], q),
        { shape: [2], type: 'INT32', data: [1, pooled.reduce((a, b) => a * b, 1)] },
        uint8([1, pooled.reduce((a, b) => a * b, 1)], q),
        uint8([1, pooled.reduce((a, b) => a * b, 1)], { scale: 1 / 256, zeroPoint: 0 }),
      ],
      operators: [
        { builtinCode: BuiltinOperator.AVERAGE_POOL_2D, inputs: [0], outputs: [1], options },
        {
          builtinCode: BuiltinOperator.RESHAPE,
          inputs: [1, 2],
          outputs: [3],
          options: { kind: 'ReshapeOptions', newShape: [1, pooled.reduce((a, b) => a * b, 1)] },
        },
        {
          builtinCode: BuiltinOperator.SOFTMAX,
          inputs: [3],
          outputs: [4],
          options: { kind: 'SoftmaxOptions', beta: 1 },
        },
      ],
      inputs: [0],
      outputs: [4],
    });
    const softmax = (logits: number[]) => {
      const max = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - max));
      const total = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / total);
    };
    for (const [size, stride, padding, pooled] of [
      [5, 1, 'VALID', [1, 1, c]],
      [3, 2, 'SAME', [3, 3, c]],
    ] as const) {
      const expected = ref.averagePool(x, size, stride, padding, [0, 255]);
      const out = await run(
        buildTfliteModel(model(pool(size, stride, padding), [...pooled])),
        x.data,
        [n, h, w, c],
      );
      const classes = expected.data.length / n;
      expect(out.dims).toEqual([n, classes]);
      for (let b = 0; b < n; b++) {
        const logits = expected.data.slice(b * classes, (b + 1) * classes);
        const probabilities = softmax(logits.map((v) => (v - q.zeroPoint) * q.scale));
        const got = out.data.slice(b * classes, (b + 1) * classes);
        expect(got.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
        // One step of a logit moves a probability by a factor exp(0.1) at most.
        got.forEach((p, i) => {
          expect(Math.abs(Math.log(p / (probabilities[i] ?? 1)))).toBeLessThanOrEqual(0.1001);
        });
      }
    }
  });

  it("keeps TFLite's quantization: uint8 activations, int8 weights at zero point z - 128, int32 bias", () => {
    const x: ref.QImage = { n: 1, h: 2, w: 2, c: 1, data: [] };
    const tflite = buildTfliteModel(
      convSpec({
        x,
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
    const tflite = buildTfliteModel(
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
    const [n, h, w, c, o] = [2, 7, 6, 3, 4];
    const x: ref.QImage = { n, h, w, c, data: ints(n * h * w * c, 0, 254, 3) };
    const xq = { scale: 1 / 128, zeroPoint: 128 };
    // Zero point 122: every w - z lies in -122..127.
    const wq = { scale: 0.06, zeroPoint: 122 };
    const weights = ints(o * 3 * 3 * c, 0, 249, 5);
    const bias = ints(o, -2000, 2000, 7);
    const yq = { scale: 0.03, zeroPoint: 40 };
    const spec = { x, xq, weights, wShape: [o, 3, 3, c], wq, bias, yq, stride: 2 };
    const expected = ref.conv({ ...spec, padding: 'SAME', range: [40, 240] });
    const tflite = buildTfliteModel(
      convSpec({
        ...spec,
        padding: 'SAME',
        act: 'RELU6',
        outShape: [1, expected.h, expected.w, o],
      }),
    );
    const out = await run(tflite, x.data, [n, h, w, c], 'int8-fast');
    expectWithinOneStep(requantized(out.data, yq), expected.data);
  });

  describe('refuses what it cannot carry in integers, naming it', () => {
    const base = () =>
      convSpec({
        x: { n: 1, h: 2, w: 2, c: 1, data: [] },
        xq: { scale: 1 / 128, zeroPoint: 128 },
        weights: [200],
        wShape: [1, 1, 1, 1],
        wq: { scale: 0.5, zeroPoint: 100 },
        bias: [0],
        yq: { scale: 0.1, zeroPoint: 5 },
        outShape: [1, 2, 2, 1],
        stride: 1,
        padding: 'VALID',
        act: 'NONE',
      });
    const convert = (spec: ModelSpec) => () => convertTfliteToOnnx(buildTfliteModel(spec), 'int8');

    it('an unsupported operator', () => {
      const spec = base();
      spec.operators[0] = { builtinCode: BuiltinOperator.MAX_POOL_2D, inputs: [0], outputs: [3] };
      expect(convert(spec)).toThrow('Unsupported TFLite operator MAX_POOL_2D (17)');
    });

    it('float weights', () => {
      const spec = base();
      spec.tensors[1] = { shape: [1, 1, 1, 1], type: 'FLOAT32', data: [0.5] };
      expect(convert(spec)).toThrow('int8 conversion needs quantized 8-bit weights');
    });

    it('a float bias', () => {
      const spec = base();
      spec.tensors[2] = { shape: [1], type: 'FLOAT32', data: [0.5] };
      expect(convert(spec)).toThrow('int8 conversion needs an INT32 bias');
    });

    it('a bias of another scale than input x weights', () => {
      const spec = base();
      spec.tensors[2] = { shape: [1], type: 'INT32', data: [1], quantization: { scale: [0.1] } };
      expect(convert(spec)).toThrow('is not scaled by input scale x weight scale');
    });

    it('per-channel weights with different zero points', () => {
      const spec = convSpec({
        x: { n: 1, h: 2, w: 2, c: 1, data: [] },
        xq: { scale: 1 / 128, zeroPoint: 128 },
        weights: [1, 2],
        wShape: [2, 1, 1, 1],
        wq: { scale: 0.5, zeroPoint: 100 },
        bias: [0, 0],
        yq: { scale: 0.1, zeroPoint: 5 },
        outShape: [1, 2, 2, 2],
        stride: 1,
        padding: 'VALID',
        act: 'NONE',
      });
      spec.tensors[1] = {
        shape: [2, 1, 1, 1],
        type: 'UINT8',
        data: [1, 2],
        quantization: { scale: [0.5, 0.25], zeroPoint: [100, 101], quantizedDimension: 0 },
      };
      spec.tensors[2] = { shape: [2], type: 'INT32', data: [0, 0] };
      expect(convert(spec)).toThrow('have different zero points per channel');
    });

    it('a float activation', () => {
      const spec = base();
      spec.tensors[3] = { shape: [1, 2, 2, 1], type: 'FLOAT32' };
      expect(convert(spec)).toThrow('Unsupported TFLite tensor type FLOAT32');
    });

    it('a RESHAPE that requantizes', () => {
      const spec = base();
      spec.tensors.push(
        { shape: [2], type: 'INT32', data: [1, 4] },
        uint8([1, 4], { scale: 0.2, zeroPoint: 5 }),
      );
      spec.operators.push({ builtinCode: BuiltinOperator.RESHAPE, inputs: [3, 4], outputs: [5] });
      spec.outputs = [5];
      expect(convert(spec)).toThrow('Unsupported RESHAPE to "t5": it changes the quantization');
    });

    it('a fused activation', () => {
      const spec = base();
      const op = spec.operators[0];
      if (op?.options?.kind !== 'Conv2DOptions') throw new Error('unexpected');
      op.options.fusedActivation = 'TANH';
      expect(convert(spec)).toThrow('Unsupported fused activation TANH on TFLite CONV_2D');
    });
  });
});
