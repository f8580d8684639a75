import { describe, expect, it } from 'vitest';
import { convertTfliteToOnnx } from './importer.js';
import { ints, run } from './importer.test-helper.js';
import {
  convSpec,
  expectWithinOneStep,
  relu6Conv,
  requantized,
  uint8,
} from './quantized-importer.test-helper.js';
import { BuiltinOperator } from './tflite/schema.js';
import { buildTfliteModel, type ModelSpec } from './tflite/tflite-builder.test-helper.js';
import * as ref from './tflite/tflite-kernels.test-helper.js';

describe('convertTfliteToOnnx, int8', () => {
  // int8 requantizes like onnxruntime (one float rounding), int8-exact like TFLite.
  describe.each([
    ['int8', expectWithinOneStep],
    ['int8-exact', (actual: number[], expected: number[]) => expect(actual).toEqual(expected)],
  ] as const)('%s', (precision, expectClose) => {
    it("runs a SAME stride-2 convolution in TFLite's integers, clamped by a fused RELU6", async () => {
      const conv = relu6Conv(250);
      expect(conv.expected).toContain(40);
      expect(conv.expected).toContain(240);
      const out = await run(conv.tflite, conv.pixels, conv.dims, precision);
      expect(out.dims).toEqual(conv.outDims);
      expectClose(requantized(out.data, conv.yq), conv.expected);
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
        'int8',
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
