import { describe, expect, it } from 'vitest';
import { convModel, expectClose, firstOperator, ints, run } from './importer.test-helper.js';
import { type Image, refConv } from './tflite/float-kernels.test-helper.js';
import { BuiltinOperator } from './tflite/schema.js';
import { buildTfliteModel } from './tflite/tflite-builder.test-helper.js';

describe('convertTfliteToOnnx, convolutions', () => {
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
});
