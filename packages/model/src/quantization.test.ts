import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  activationRange,
  biasScaleFits,
  fixedPointDivision,
  quantize,
  roundHalfAwayFromZero,
  toSignedWeights,
  toSymmetricPerChannel,
} from './quantization.js';
import {
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
} from './tflite/tflite-kernels.test-helper.js';

describe('quantization helpers', () => {
  it('keeps weights that fit symmetric int8 and divides down the channels that do not', () => {
    const { values, scales } = toSymmetricPerChannel(
      Int16Array.from([-127, 0, 127, 10, -254, 0, 0, 100]),
      [0.5, 0.25],
    );
    expect(Array.from(values)).toEqual([-127, 0, 127, 10, -127, 0, 0, 50]);
    expect(scales).toEqual([0.5, 0.5]);
  });

  it('rounds halves away from zero, as TfLiteRound does', () => {
    expect([2.5, -2.5, 1.4, -1.6, 0].map(roundHalfAwayFromZero)).toEqual([3, -3, 1, -2, 0]);
    expect(quantize(-0.25, { scale: 0.1, zeroPoint: 10 })).toBe(7);
  });

  it('clamps fused activations to their quantized bounds within uint8', () => {
    // MobileNet's ReLU6 outputs: scale 6/255, zero point 0 -> the whole uint8 range, no clamp.
    expect(activationRange('RELU6', { scale: 6 / 255, zeroPoint: 0 })).toEqual([0, 255]);
    expect(activationRange('RELU6', { scale: 0.05, zeroPoint: 20 })).toEqual([20, 140]);
    expect(activationRange('RELU', { scale: 0.1, zeroPoint: 128 })).toEqual([128, 255]);
    expect(activationRange('RELU_N1_TO_1', { scale: 0.01, zeroPoint: 128 })).toEqual([28, 228]);
    expect(activationRange('RELU6', { scale: 0.01, zeroPoint: 200 })).toEqual([200, 255]);
    expect(activationRange('NONE', { scale: 0.01, zeroPoint: 3 })).toEqual([0, 255]);
    expect(() => activationRange('TANH', { scale: 1, zeroPoint: 0 })).toThrow(
      'Unsupported fused activation TANH',
    );
  });

  it('shifts uint8 weights to int8 without changing any product (w - z)', () => {
    const values = Uint8Array.from([0, 1, 127, 128, 129, 254, 255]);
    for (const z of [0, 113, 128, 201, 255]) {
      const signed = toSignedWeights(values, [z]);
      const zs = signed.zeroPoints[0] ?? Number.NaN;
      expect(zs).toBe(z - 128);
      expect(zs).toBeGreaterThanOrEqual(-128);
      expect(zs).toBeLessThanOrEqual(127);
      values.forEach((w, i) => {
        expect((signed.values[i] ?? Number.NaN) - zs).toBe(w - z);
      });
    }
    expect(Array.from(toSignedWeights(values, [128]).values)).toEqual([
      -128, -127, -1, 0, 1, 126, 127,
    ]);
  });

  it("accepts an int32 bias only at input scale x weight scale (TFLite's own check)", () => {
    const [x, w] = [0.0078125, 0.033969];
    expect(biasScaleFits(Math.fround(x * w), x, w)).toBe(true);
    expect(biasScaleFits(x * w * 1.001, x, w)).toBe(false);
  });
});

describe("TFLite's requantization as one integer division (int8-exact)", () => {
  const divide = (x: number, real: number) => {
    const { multiplier, nudge, divisor } = fixedPointDivision(real);
    const product = BigInt(x) * BigInt(multiplier);
    return Number((product + BigInt(product < 0n ? 1 - nudge : nudge)) / BigInt(divisor));
  };
  const reference = (x: number, real: number) => {
    const { multiplier, shift } = quantizeMultiplier(real);
    return multiplyByQuantizedMultiplier(x, multiplier, shift);
  };

  it('rounds twice as TFLite does, ties included', () => {
    expect(divide(101, 0.5)).toBe(51);
    expect(divide(-101, 0.5)).toBe(-50);
    expect(divide(-140, 0.031961)).toBe(-5);
  });

  it('equals MultiplyByQuantizedMultiplier for any sum and multiplier', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 24), max: 2 ** 24 }),
        fc.double({ min: 1e-4, max: 4, noNaN: true }),
        (x, real) => divide(x, real) === reference(x, real),
      ),
      { numRuns: 2000 },
    );
  });
});

describe("TFLite's requantization (the tests' reference)", () => {
  it('splits a real multiplier into a Q31 mantissa and a shift', () => {
    expect(quantizeMultiplier(0.5)).toEqual({ multiplier: 2 ** 30, shift: 0 });
    expect(quantizeMultiplier(0.75)).toEqual({ multiplier: 3 * 2 ** 29, shift: 0 });
    expect(quantizeMultiplier(3)).toEqual({ multiplier: 3 * 2 ** 29, shift: 2 });
    const { multiplier, shift } = quantizeMultiplier(0.0123);
    expect(multiplier).toBeGreaterThanOrEqual(2 ** 30);
    expect(multiplier).toBeLessThan(2 ** 31);
    expect(multiplier * 2 ** (shift - 31)).toBeCloseTo(0.0123, 9);
  });

  it('multiplies with rounding to nearest, ties upwards in the high multiply', () => {
    const half = quantizeMultiplier(0.5);
    expect(multiplyByQuantizedMultiplier(101, half.multiplier, half.shift)).toBe(51);
    expect(multiplyByQuantizedMultiplier(-101, half.multiplier, half.shift)).toBe(-50);
    expect(multiplyByQuantizedMultiplier(100, half.multiplier, half.shift)).toBe(50);
    const m = quantizeMultiplier(0.0123);
    for (const acc of [0, 1, 999, -999, 123_456, -654_321]) {
      expect(multiplyByQuantizedMultiplier(acc, m.multiplier, m.shift)).toBe(
        roundHalfAwayFromZero(acc * 0.0123),
      );
    }
    // Two roundings: -140 x 0.031961 = -4.47 goes to -71.6 -> -72 sixteenths, then -4.5 -> -5.
    const twice = quantizeMultiplier(0.031961);
    expect(twice.shift).toBe(-4);
    expect(multiplyByQuantizedMultiplier(-140, twice.multiplier, twice.shift)).toBe(-5);
  });
});
