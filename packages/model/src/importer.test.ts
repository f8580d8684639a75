import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { convertTfliteToOnnx, readOnnxProvenance } from './importer.js';
import { convModel, expectClose, firstOperator, ints, run } from './importer.test-helper.js';
import { applyActivation, at, type Image } from './tflite/float-kernels.test-helper.js';
import { BuiltinOperator } from './tflite/schema.js';
import { buildTfliteModel } from './tflite/tflite-builder.test-helper.js';

describe('convertTfliteToOnnx', () => {
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
