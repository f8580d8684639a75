import type { Activation } from './tflite/schema.js';

// TFLite's uint8 arithmetic, as far as the int8 graph has to reproduce it: the quantized
// activation bounds of fused activations, and signed weights for onnxruntime's fast kernels.

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

export const UINT8_RANGE: readonly [number, number] = [0, 255];

/** TfLiteRound: halves go away from zero (Math.round sends -2.5 to -2). */
export const roundHalfAwayFromZero = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

/** The quantized value of real `x`, unclamped. */
export const quantize = (x: number, q: QuantParams) =>
  q.zeroPoint + roundHalfAwayFromZero(x / q.scale);

/**
 * The clamp TFLite applies to a quantized output with a fused activation
 * (CalculateActivationRangeQuantized): the activation's real bounds quantized with the
 * output's parameters, within the type's range.
 */
export function activationRange(
  activation: Activation,
  q: QuantParams,
  [qmin, qmax]: readonly [number, number] = UINT8_RANGE,
): [number, number] {
  const within = (lo: number, hi: number): [number, number] => [
    Math.max(qmin, lo),
    Math.min(qmax, hi),
  ];
  switch (activation) {
    case 'NONE':
      return [qmin, qmax];
    case 'RELU':
      return within(quantize(0, q), qmax);
    case 'RELU6':
      return within(quantize(0, q), quantize(6, q));
    case 'RELU_N1_TO_1':
      return within(quantize(-1, q), quantize(1, q));
    default:
      throw new Error(`Unsupported fused activation ${activation}`);
  }
}

/**
 * uint8 weights with zero point z as int8 weights w - 128 with zero point z - 128: the same
 * products (w - z), exactly, in the type onnxruntime's u8s8 kernels take.
 */
export function toSignedWeights(
  values: Uint8Array,
  zeroPoints: readonly number[],
): { values: Int8Array; zeroPoints: number[] } {
  const signed = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) signed[i] = (values[i] ?? 0) - 128;
  return { values: signed, zeroPoints: zeroPoints.map((z) => z - 128) };
}

/** The largest magnitude of symmetric int8 (-127..127: -128 would make it asymmetric). */
export const INT8_SYMMETRIC_MAX = 127;

/**
 * Weights with their zero point taken off (w - z, output channel first) as symmetric int8 per
 * output channel, zero point 0: the form onnxruntime's fastest u8s8 kernels take. A channel
 * whose values fit -127..127 keeps them and its scale exactly, TFLite's own products; the
 * others are divided down to fit, their scale multiplied by the same factor.
 */
export function toSymmetricPerChannel(
  centered: Int16Array,
  scales: readonly number[],
): { values: Int8Array; scales: number[] } {
  const channels = scales.length;
  const size = centered.length / channels;
  const values = new Int8Array(centered.length);
  const out: number[] = [];
  for (let c = 0; c < channels; c++) {
    const channel = centered.subarray(c * size, (c + 1) * size);
    const largest = channel.reduce((m, w) => Math.max(m, Math.abs(w)), 0);
    const factor = largest > INT8_SYMMETRIC_MAX ? largest / INT8_SYMMETRIC_MAX : 1;
    out.push((scales[c] ?? 0) * factor);
    for (let i = 0; i < size; i++) {
      values[c * size + i] = roundHalfAwayFromZero((channel[i] ?? 0) / factor);
    }
  }
  return { values, scales: out };
}

/**
 * TFLite's QuantizeMultiplier: real = multiplier x 2^(shift - 31), multiplier a 31-bit integer
 * in [2^30, 2^31).
 */
export function quantizeMultiplier(real: number): { multiplier: number; shift: number } {
  if (real <= 0) throw new Error(`Requantization multiplier ${real} is not positive`);
  let shift = Math.ceil(Math.log2(real));
  // log2 of an exact power of two rounds to it: the fraction must lie in [0.5, 1).
  if (real / 2 ** shift >= 1) shift += 1;
  let multiplier = Math.round((real / 2 ** shift) * 2 ** 31);
  if (multiplier === 2 ** 31) {
    multiplier /= 2;
    shift += 1;
  }
  return { multiplier, shift };
}

/**
 * MultiplyByQuantizedMultiplier as one truncating integer division, for int64 operators:
 * TFLite rounds x * m / 2^31 (halves up, negative halves towards zero), then divides by 2^e
 * rounding halves away from zero. For integers that is (x * m' + nudge) / 2^(31 + e), truncated,
 * with nudge = 2^30 + 2^(30 + e) (no 2^(30 + e) when e = 0) for a non-negative product and
 * 1 - that for a negative one, and m' = m * 2^shift for a multiplier of 1 or more (shift > 0).
 */
export function fixedPointDivision(real: number): {
  multiplier: number;
  nudge: number;
  divisor: number;
} {
  const { multiplier, shift } = quantizeMultiplier(real);
  const e = Math.max(-shift, 0);
  return {
    multiplier: multiplier * 2 ** Math.max(shift, 0),
    nudge: 2 ** 30 + (e > 0 ? 2 ** (30 + e) : 0),
    divisor: 2 ** (31 + e),
  };
}

/**
 * Whether an int32 bias's own scale is the input scale x weight scale that QLinearConv
 * assumes (TFLite requires it up to float rounding).
 */
export function biasScaleFits(biasScale: number, inputScale: number, weightScale: number): boolean {
  const expected = inputScale * weightScale;
  return Math.abs(biasScale - expected) <= 1e-6 * expected;
}
