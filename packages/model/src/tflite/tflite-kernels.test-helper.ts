import type { Padding } from './schema.js';

// TFLite's uint8 reference kernels in plain TypeScript, integer arithmetic and all, written from
// TFLite's documented quantization scheme: the expected answers of the int8 importer's tests.

export interface Q {
  scale: number;
  zeroPoint: number;
}

/** An NHWC uint8 tensor. */
export interface QImage {
  n: number;
  h: number;
  w: number;
  c: number;
  data: number[];
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const f32 = Math.fround;

/** real = multiplier x 2^(shift - 31), multiplier in [2^30, 2^31) (QuantizeMultiplier). */
export function quantizeMultiplier(real: number): { multiplier: number; shift: number } {
  if (real === 0) return { multiplier: 0, shift: 0 };
  let shift = Math.floor(Math.log2(real)) + 1;
  let q = Math.round((real / 2 ** shift) * 2 ** 31);
  if (q === 2 ** 31) {
    q /= 2;
    shift += 1;
  }
  return { multiplier: q, shift };
}

/** gemmlowp's SaturatingRoundingDoublingHighMul: round(a x b / 2^31), ties away from zero. */
function doublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  // BigInt division truncates toward zero, as C++'s does.
  return Number((ab + nudge) / (1n << 31n));
}

/** gemmlowp's RoundingDivideByPOT: x / 2^exponent, ties away from zero. */
function roundingDivideByPot(x: number, exponent: number): number {
  const mask = 2 ** exponent - 1;
  const remainder = ((x % 2 ** exponent) + 2 ** exponent) & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return Math.floor(x / 2 ** exponent) + (remainder > threshold ? 1 : 0);
}

/** TFLite's MultiplyByQuantizedMultiplier. */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number) {
  const left = Math.max(shift, 0);
  const right = Math.max(-shift, 0);
  return roundingDivideByPot(doublingHighMul(x * 2 ** left, multiplier), right);
}

const clamp = (v: number, [lo, hi]: readonly [number, number]) => Math.min(hi, Math.max(lo, v));

const samePadBefore = (size: number, k: number, stride: number) =>
  Math.floor(Math.max((Math.ceil(size / stride) - 1) * stride + k - size, 0) / 2);

const outSize = (size: number, k: number, stride: number, padding: Padding) =>
  padding === 'SAME' ? Math.ceil(size / stride) : Math.floor((size - k) / stride) + 1;

export interface ConvSpec {
  x: QImage;
  xq: Q;
  /** [O,kh,kw,I], or [1,kh,kw,C*M] when depthwise. */
  weights: number[];
  wShape: number[];
  wq: Q;
  bias: number[];
  yq: Q;
  stride: number;
  padding: Padding;
  range: readonly [number, number];
  depthwise?: boolean;
}

/** CONV_2D / DEPTHWISE_CONV_2D on uint8: int32 sums of (x - zx)(w - zw) + bias, requantized. */
export function conv(s: ConvSpec): QImage {
  const [d0 = 0, kh = 0, kw = 0, d3 = 0] = s.wShape;
  const outC = s.depthwise ? d3 : d0;
  const m = s.depthwise ? d3 / s.x.c : 1;
  const oh = outSize(s.x.h, kh, s.stride, s.padding);
  const ow = outSize(s.x.w, kw, s.stride, s.padding);
  const pt = s.padding === 'SAME' ? samePadBefore(s.x.h, kh, s.stride) : 0;
  const pl = s.padding === 'SAME' ? samePadBefore(s.x.w, kw, s.stride) : 0;
  // GetQuantizedConvolutionMultipler: the scales' product in float, the quotient in double.
  const real = f32(f32(s.xq.scale) * f32(s.wq.scale)) / f32(s.yq.scale);
  const { multiplier, shift } = quantizeMultiplier(real);
  const data: number[] = [];
  for (let b = 0; b < s.x.n; b++)
    for (let y = 0; y < oh; y++)
      for (let i = 0; i < ow; i++)
        for (let o = 0; o < outC; o++) {
          let acc = s.bias[o] ?? 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = y * s.stride - pt + ky;
              const ix = i * s.stride - pl + kx;
              if (iy < 0 || ix < 0 || iy >= s.x.h || ix >= s.x.w) continue;
              const channels = s.depthwise ? [Math.floor(o / m)] : [...Array(s.x.c).keys()];
              for (const ic of channels) {
                const xv = s.x.data[((b * s.x.h + iy) * s.x.w + ix) * s.x.c + ic] ?? 0;
                const wi = s.depthwise
                  ? (ky * kw + kx) * d3 + o
                  : ((o * kh + ky) * kw + kx) * d3 + ic;
                acc += (xv - s.xq.zeroPoint) * ((s.weights[wi] ?? 0) - s.wq.zeroPoint);
              }
            }
          const scaled = multiplyByQuantizedMultiplier(acc, multiplier, shift);
          data.push(clamp(scaled + s.yq.zeroPoint, s.range));
        }
  return { n: s.x.n, h: oh, w: ow, c: outC, data };
}

/** ADD on uint8: both inputs rescaled to twice the larger scale with 20 bits of headroom. */
export function add(
  a: number[],
  aq: Q,
  b: number[],
  bq: Q,
  yq: Q,
  range: readonly [number, number],
): number[] {
  const leftShift = 20;
  const twiceMax = 2 * Math.max(f32(aq.scale), f32(bq.scale));
  const ma = quantizeMultiplier(f32(aq.scale) / twiceMax);
  const mb = quantizeMultiplier(f32(bq.scale) / twiceMax);
  const my = quantizeMultiplier(twiceMax / (2 ** leftShift * f32(yq.scale)));
  return a.map((av, i) => {
    const sa = multiplyByQuantizedMultiplier(
      (av - aq.zeroPoint) * 2 ** leftShift,
      ma.multiplier,
      ma.shift,
    );
    const bv = b[i] ?? 0;
    const sb = multiplyByQuantizedMultiplier(
      (bv - bq.zeroPoint) * 2 ** leftShift,
      mb.multiplier,
      mb.shift,
    );
    const sum = multiplyByQuantizedMultiplier(sa + sb, my.multiplier, my.shift);
    return clamp(sum + yq.zeroPoint, range);
  });
}

/** AVERAGE_POOL_2D on uint8 (same scale in and out): rounded mean of the window's pixels. */
export function averagePool(
  x: QImage,
  k: number,
  stride: number,
  padding: Padding,
  range: readonly [number, number],
): QImage {
  const oh = outSize(x.h, k, stride, padding);
  const ow = outSize(x.w, k, stride, padding);
  const pt = padding === 'SAME' ? samePadBefore(x.h, k, stride) : 0;
  const pl = padding === 'SAME' ? samePadBefore(x.w, k, stride) : 0;
  const data: number[] = [];
  for (let b = 0; b < x.n; b++)
    for (let y = 0; y < oh; y++)
      for (let i = 0; i < ow; i++)
        for (let ch = 0; ch < x.c; ch++) {
          let sum = 0;
          let count = 0;
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = y * stride - pt + ky;
              const ix = i * stride - pl + kx;
              if (iy < 0 || ix < 0 || iy >= x.h || ix >= x.w) continue;
              sum += x.data[((b * x.h + iy) * x.w + ix) * x.c + ch] ?? 0;
              count++;
            }
          data.push(clamp(Math.floor((sum + Math.floor(count / 2)) / count), range));
        }
  return { n: x.n, h: oh, w: ow, c: x.c, data };
}
