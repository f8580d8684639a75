import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  convertTfliteToOnnx,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  readOnnxProvenance,
} from './importer.js';
import { BuiltinOperator } from './tflite/schema.js';
import { buildTfliteModel, type ModelSpec } from './tflite/tflite-builder.test-helper.js';

type Activation = 'NONE' | 'RELU' | 'RELU6';

async function run(tflite: Uint8Array, pixels: number[], dims: number[]) {
  const session = await ort.InferenceSession.create(convertTfliteToOnnx(tflite));
  try {
    const feeds = { [ONNX_INPUT_NAME]: new ort.Tensor('uint8', Uint8Array.from(pixels), dims) };
    const out = (await session.run(feeds))[ONNX_OUTPUT_NAME];
    if (!out) throw new Error('no output');
    return { data: Array.from(out.data as Float32Array), dims: [...out.dims] };
  } finally {
    await session.release();
  }
}

/** Deterministic pseudo-random integers in [lo, hi]. */
function ints(count: number, lo: number, hi: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return lo + (s % (hi - lo + 1));
  });
}

// Straightforward NHWC references, written independently of the importer.

const samePadBefore = (size: number, k: number, stride: number) =>
  Math.floor(Math.max((Math.ceil(size / stride) - 1) * stride + k - size, 0) / 2);

function applyActivation(v: number, a: Activation): number {
  if (a === 'RELU') return Math.max(0, v);
  if (a === 'RELU6') return Math.min(6, Math.max(0, v));
  return v;
}

interface Image {
  n: number;
  h: number;
  w: number;
  c: number;
  data: number[];
}

const at = (x: Image, b: number, y: number, i: number, ch: number) =>
  y < 0 || i < 0 || y >= x.h || i >= x.w
    ? undefined
    : (x.data[((b * x.h + y) * x.w + i) * x.c + ch] ?? 0);

/** weight(o, ky, kx, inputChannel) -> value; depthwise when `channelOf` is given. */
function refConv(
  x: Image,
  outC: number,
  k: number,
  stride: number,
  same: boolean,
  weight: (o: number, ky: number, kx: number, ic: number) => number,
  bias: number[],
  act: Activation,
  channelOf?: (o: number) => number,
): Image {
  const oh = same ? Math.ceil(x.h / stride) : Math.floor((x.h - k) / stride) + 1;
  const ow = same ? Math.ceil(x.w / stride) : Math.floor((x.w - k) / stride) + 1;
  const pt = same ? samePadBefore(x.h, k, stride) : 0;
  const pl = same ? samePadBefore(x.w, k, stride) : 0;
  const data: number[] = [];
  for (let b = 0; b < x.n; b++)
    for (let y = 0; y < oh; y++)
      for (let i = 0; i < ow; i++)
        for (let o = 0; o < outC; o++) {
          let sum = bias[o] ?? 0;
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const channels = channelOf ? [channelOf(o)] : [...Array(x.c).keys()];
              for (const ic of channels) {
                const v = at(x, b, y * stride - pt + ky, i * stride - pl + kx, ic);
                if (v !== undefined) sum += v * weight(o, ky, kx, ic);
              }
            }
          data.push(applyActivation(sum, act));
        }
  return { n: x.n, h: oh, w: ow, c: outC, data };
}

function expectClose(actual: number[], expected: number[], tolerance = 1e-4) {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - (expected[i] ?? Number.NaN))));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

const identityInput = (shape: number[]) =>
  ({ shape, type: 'UINT8', quantization: { scale: [1], zeroPoint: [0] } }) as const;

function convModel(opts: {
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

function firstOperator(spec: ModelSpec) {
  const op = spec.operators[0];
  if (!op) throw new Error('the model has no operator');
  return op;
}

describe('convertTfliteToOnnx', () => {
  it('pads SAME stride-2 convolutions like TensorFlow: the extra row/column at bottom/right', async () => {
    // 4x4 input 1..16, 3x3 kernel of ones, stride 2: padding total 1, all at the bottom/right.
    const tflite = buildTfliteModel(
      convModel({
        inShape: [1, 4, 4, 1],
        weights: Array(9).fill(1),
        wShape: [1, 3, 3, 1],
        outShape: [1, 2, 2, 1],
        stride: 2,
        padding: 'SAME',
      }),
    );
    const pixels = Array.from({ length: 16 }, (_, i) => i + 1);
    const out = await run(tflite, pixels, [1, 4, 4, 1]);
    expect(out.dims).toEqual([1, 2, 2, 1]);
    expect(out.data).toEqual([54, 45, 72, 54]);
  });

  it('converts multi-channel SAME and VALID convolutions with bias, in a batch', async () => {
    const [h, w, c, o] = [5, 6, 3, 4];
    const weights = ints(o * 3 * 3 * c, -3, 3, 7);
    const bias = [0.5, -1, 2, 0];
    const pixels = ints(2 * h * w * c, 0, 9, 11);
    const x: Image = { n: 2, h, w, c, data: pixels };
    const weight = (oc: number, ky: number, kx: number, ic: number) =>
      weights[((oc * 3 + ky) * 3 + kx) * c + ic] ?? 0;
    for (const padding of ['SAME', 'VALID'] as const) {
      const expected = refConv(x, o, 3, 2, padding === 'SAME', weight, bias, 'RELU');
      const tflite = buildTfliteModel(
        convModel({
          inShape: [1, h, w, c],
          weights,
          wShape: [o, 3, 3, c],
          bias,
          outShape: [1, expected.h, expected.w, o],
          stride: 2,
          padding,
          act: 'RELU',
        }),
      );
      const out = await run(tflite, pixels, [2, h, w, c]);
      expect(out.dims).toEqual([2, expected.h, expected.w, o]);
      expectClose(out.data, expected.data);
    }
  });

  it('dequantizes per-channel uint8 weights and an int32 bias without its own scale', async () => {
    const [h, w, c, o] = [4, 4, 2, 3];
    const scales = [0.5, 0.25, 0.125];
    const zeroPoints = [128, 120, 130];
    const q = ints(o * c, 100, 160, 3);
    const biasQ = [8, -16, 40];
    const inScale = 0.5;
    const spec = convModel({
      inShape: [1, h, w, c],
      weights: [],
      wShape: [o, 1, 1, c],
      outShape: [1, h, w, o],
      stride: 1,
      padding: 'SAME',
    });
    spec.tensors[0] = {
      shape: [1, h, w, c],
      type: 'UINT8',
      quantization: { scale: [inScale], zeroPoint: [10] },
    };
    spec.tensors[1] = {
      shape: [o, 1, 1, c],
      type: 'UINT8',
      data: q,
      quantization: { scale: scales, zeroPoint: zeroPoints, quantizedDimension: 0 },
    };
    spec.tensors[2] = { shape: [o], type: 'INT32', data: biasQ };
    firstOperator(spec).inputs = [0, 1, 2];
    const pixels = ints(h * w * c, 0, 40, 5);
    const x: Image = { n: 1, h, w, c, data: pixels.map((p) => (p - 10) * inScale) };
    const weight = (oc: number, _y: number, _x: number, ic: number) =>
      ((q[oc * c + ic] ?? 0) - (zeroPoints[oc] ?? 0)) * (scales[oc] ?? 0);
    const bias = biasQ.map((b, i) => b * inScale * (scales[i] ?? 0));
    const expected = refConv(x, o, 1, 1, true, weight, bias, 'NONE');
    const out = await run(buildTfliteModel(spec), pixels, [1, h, w, c]);
    expectClose(out.data, expected.data);
  });

  it('converts depthwise convolutions (depth multiplier 2) to grouped Conv', async () => {
    const [h, w, c, m] = [5, 5, 3, 2];
    const q = ints(3 * 3 * c * m, 0, 255, 13);
    const wScales = [0.01, 0.02, 0.015, 0.03, 0.005, 0.02];
    const biasQ = [100, -200, 300, 0, 50, -50];
    const biasScale = 0.001;
    const tflite = buildTfliteModel({
      tensors: [
        {
          shape: [1, h, w, c],
          type: 'UINT8',
          quantization: { scale: [1 / 128], zeroPoint: [128] },
        },
        {
          shape: [1, 3, 3, c * m],
          type: 'UINT8',
          data: q,
          quantization: {
            scale: wScales,
            zeroPoint: Array(c * m).fill(128),
            quantizedDimension: 3,
          },
        },
        { shape: [c * m], type: 'INT32', data: biasQ, quantization: { scale: [biasScale] } },
        { shape: [1, 3, 3, c * m], type: 'UINT8', quantization: { scale: [0.05], zeroPoint: [0] } },
      ],
      operators: [
        {
          builtinCode: BuiltinOperator.DEPTHWISE_CONV_2D,
          inputs: [0, 1, 2],
          outputs: [3],
          options: {
            kind: 'DepthwiseConv2DOptions',
            padding: 'SAME',
            strideW: 2,
            strideH: 2,
            depthMultiplier: m,
            fusedActivation: 'RELU6',
            dilationW: 1,
            dilationH: 1,
          },
        },
      ],
      inputs: [0],
      outputs: [3],
    });
    const pixels = ints(2 * h * w * c, 0, 255, 17);
    const x: Image = { n: 2, h, w, c, data: pixels.map((p) => (p - 128) / 128) };
    const weight = (oc: number, ky: number, kx: number) =>
      ((q[(ky * 3 + kx) * c * m + oc] ?? 0) - 128) * (wScales[oc] ?? 0);
    const bias = biasQ.map((b) => b * biasScale);
    const expected = refConv(x, c * m, 3, 2, true, weight, bias, 'RELU6', (oc) =>
      Math.floor(oc / m),
    );
    const out = await run(tflite, pixels, [2, h, w, c]);
    expect(out.dims).toEqual([2, 3, 3, c * m]);
    expectClose(out.data, expected.data);
  });

  it('converts a residual ADD with fused RELU6', async () => {
    // out = relu6(x + conv1x1(x)); x in [-8, 8) so both clip ends are hit.
    const [h, w, c] = [3, 3, 2];
    const weights = [1.5, -0.5, 2, 1];
    const tflite = buildTfliteModel({
      tensors: [
        { shape: [1, h, w, c], type: 'UINT8', quantization: { scale: [1 / 16], zeroPoint: [128] } },
        { shape: [c, 1, 1, c], type: 'FLOAT32', data: weights },
        { shape: [1, h, w, c], type: 'UINT8', quantization: { scale: [0.1], zeroPoint: [128] } },
        { shape: [1, h, w, c], type: 'UINT8', quantization: { scale: [6 / 255], zeroPoint: [0] } },
      ],
      operators: [
        {
          builtinCode: BuiltinOperator.CONV_2D,
          inputs: [0, 1, -1],
          outputs: [2],
          options: {
            kind: 'Conv2DOptions',
            padding: 'VALID',
            strideW: 1,
            strideH: 1,
            fusedActivation: 'NONE',
            dilationW: 1,
            dilationH: 1,
          },
        },
        {
          builtinCode: BuiltinOperator.ADD,
          inputs: [0, 2],
          outputs: [3],
          options: { kind: 'AddOptions', fusedActivation: 'RELU6' },
        },
      ],
      inputs: [0],
      outputs: [3],
    });
    const pixels = ints(h * w * c, 0, 255, 23);
    const x = pixels.map((p) => (p - 128) / 16);
    const expected = x.map((v, i) => {
      const px = Math.floor(i / c);
      const oc = i % c;
      const conv =
        (weights[oc * c] ?? 0) * (x[px * c] ?? 0) +
        (weights[oc * c + 1] ?? 0) * (x[px * c + 1] ?? 0);
      return applyActivation(v + conv, 'RELU6');
    });
    const out = await run(tflite, pixels, [1, h, w, c]);
    expect(expected.some((v) => v === 6) && expected.some((v) => v === 0)).toBe(true);
    expectClose(out.data, expected);
  });

  it('converts AVERAGE_POOL_2D (padding excluded) + RESHAPE (NHWC order) + SOFTMAX', async () => {
    const [h, w, c] = [4, 4, 3];
    const tflite = buildTfliteModel({
      tensors: [
        { shape: [1, h, w, c], type: 'UINT8', quantization: { scale: [0.25], zeroPoint: [0] } },
        { shape: [1, 2, 2, c], type: 'UINT8', quantization: { scale: [0.1], zeroPoint: [0] } },
        { shape: [2], type: 'INT32', data: [1, 12] },
        { shape: [1, 12], type: 'UINT8', quantization: { scale: [0.1], zeroPoint: [0] } },
        { shape: [1, 12], type: 'UINT8', quantization: { scale: [1 / 256], zeroPoint: [0] } },
      ],
      operators: [
        {
          builtinCode: BuiltinOperator.AVERAGE_POOL_2D,
          inputs: [0],
          outputs: [1],
          options: {
            kind: 'Pool2DOptions',
            padding: 'SAME',
            strideW: 2,
            strideH: 2,
            filterWidth: 3,
            filterHeight: 3,
            fusedActivation: 'NONE',
          },
        },
        {
          builtinCode: BuiltinOperator.RESHAPE,
          inputs: [1, 2],
          outputs: [3],
          options: { kind: 'ReshapeOptions', newShape: [1, 12] },
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
    const n = 2;
    const pixels = ints(n * h * w * c, 0, 40, 29);
    const x: Image = { n, h, w, c, data: pixels.map((p) => p * 0.25) };
    const expected: number[] = [];
    for (let b = 0; b < n; b++) {
      const pooled: number[] = [];
      for (let y = 0; y < 2; y++)
        for (let i = 0; i < 2; i++)
          for (let ch = 0; ch < c; ch++) {
            const window: number[] = [];
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const v = at(x, b, y * 2 + ky, i * 2 + kx, ch);
                if (v !== undefined) window.push(v);
              }
            pooled.push(window.reduce((s, v) => s + v, 0) / window.length);
          }
      const max = Math.max(...pooled);
      const exps = pooled.map((v) => Math.exp(v - max));
      const total = exps.reduce((s, v) => s + v, 0);
      expected.push(...exps.map((e) => e / total));
    }
    const out = await run(tflite, pixels, [n, h, w, c]);
    expect(out.dims).toEqual([n, 12]);
    expectClose(out.data, expected, 1e-6);
  });

  it('records the source checksum in the model metadata', () => {
    const tflite = buildTfliteModel(
      convModel({
        inShape: [1, 2, 2, 1],
        weights: [1],
        wShape: [1, 1, 1, 1],
        outShape: [1, 2, 2, 1],
        stride: 1,
        padding: 'VALID',
      }),
    );
    const sha = createHash('sha256').update(tflite).digest('hex');
    expect(readOnnxProvenance(convertTfliteToOnnx(tflite)).sourceSha256).toBe(sha);
  });

  describe('refuses what it does not support, naming it', () => {
    const base = () =>
      convModel({
        inShape: [1, 4, 4, 1],
        weights: [1],
        wShape: [1, 1, 1, 1],
        outShape: [1, 4, 4, 1],
        stride: 1,
        padding: 'SAME',
      });

    it('an unknown operator', () => {
      const spec = base();
      spec.operators[0] = { builtinCode: BuiltinOperator.MAX_POOL_2D, inputs: [0], outputs: [3] };
      expect(() => convertTfliteToOnnx(buildTfliteModel(spec))).toThrow(
        'Unsupported TFLite operator MAX_POOL_2D (17)',
      );
    });

    it('an operator with an extended builtin code (>= 127)', () => {
      const spec = { ...base(), extendedCodes: true };
      spec.operators[0] = { builtinCode: 150, inputs: [0], outputs: [3] };
      expect(() => convertTfliteToOnnx(buildTfliteModel(spec))).toThrow(
        'Unsupported TFLite operator GELU (150)',
      );
    });

    it('a custom operator', () => {
      const spec = base();
      spec.operators[0] = { builtinCode: 32, customCode: 'Frobnicate', inputs: [0], outputs: [3] };
      expect(() => convertTfliteToOnnx(buildTfliteModel(spec))).toThrow(
        'Unsupported TFLite custom operator "Frobnicate"',
      );
    });

    it('a fused activation', () => {
      const spec = base();
      const op = firstOperator(spec);
      if (op.options?.kind !== 'Conv2DOptions') throw new Error('unexpected');
      op.options.fusedActivation = 'TANH';
      expect(() => convertTfliteToOnnx(buildTfliteModel(spec))).toThrow(
        'Unsupported fused activation TANH on TFLite CONV_2D',
      );
    });

    it('a tensor type', () => {
      const spec = base();
      spec.tensors[1] = { shape: [1, 1, 1, 1], type: 'INT64', data: [1] };
      expect(() => convertTfliteToOnnx(buildTfliteModel(spec))).toThrow(
        'Unsupported TFLite tensor type INT64',
      );
    });

    it('a file that is not TFLite', () => {
      expect(() => convertTfliteToOnnx(new Uint8Array(64))).toThrow('Not a TFLite model');
    });
  });
});
