import type { ConvWeights } from './graph-importer.js';
import { permute, product } from './onnx-layout.js';
import { toSignedWeights, toSymmetricPerChannel } from './quantization.js';

/** Convolution weights as QLinearConv takes them: int8 values, scales, zero points. */
export interface QLinearWeights {
  values: Int8Array;
  scales: readonly number[];
  zeroPoints: readonly number[];
  /** Output channels of the scales and zero points; 0 for one pair for all. */
  channels: number;
}

/** A TFLite tensor's elements, as the importer reads them. */
type Elements = Float32Array | Int32Array | Uint8Array | Int8Array;

/** The weights' quantization and 8-bit data; an error naming them when they are not that. */
function quantized8Bit(w: ConvWeights, data: Elements) {
  const t = w.tensor;
  const q = t.quantization;
  if (!q || !(data instanceof Uint8Array || data instanceof Int8Array)) {
    throw new Error(`int8 conversion needs quantized 8-bit weights, "${t.name}" are not`);
  }
  return { t, q, data };
}

/** TFLite's weights as int8 in ONNX's layout, with their scales and one zero point. */
export function signedWeights(w: ConvWeights, elements: Elements): QLinearWeights {
  const { t, q, data } = quantized8Bit(w, elements);
  const channels = w.dims[0] ?? 0;
  const perChannel = q.scale.length > 1;
  if (perChannel && (q.scale.length !== channels || q.quantizedDimension !== w.perm[0])) {
    throw new Error(`Weights "${t.name}" are not quantized per output channel`);
  }
  const zeroPoint = q.zeroPoint[0] ?? 0;
  // onnxruntime's QLinearConv takes one weight zero point for all channels.
  if (q.zeroPoint.some((z) => z !== zeroPoint)) {
    throw new Error(`Weights "${t.name}" have different zero points per channel`);
  }
  const signed =
    data instanceof Uint8Array
      ? toSignedWeights(data, [zeroPoint])
      : { values: data, zeroPoints: [zeroPoint] };
  const count = perChannel ? channels : 0;
  return {
    values: permute(signed.values, t.shape, w.perm),
    scales: q.scale,
    zeroPoints: new Array<number>(count || 1).fill(signed.zeroPoints[0] ?? 0),
    channels: count,
  };
}

/**
 * TFLite's weights as symmetric int8 per output channel (zero point 0): w - z as it is
 * where it fits int8, divided down to fit in the few channels where it does not.
 */
export function symmetricWeights(w: ConvWeights, elements: Elements): QLinearWeights {
  const { t, q, data } = quantized8Bit(w, elements);
  const channels = w.dims[0] ?? 0;
  const laid = permute(data, t.shape, w.perm);
  const size = laid.length / channels;
  const perChannel = (values: readonly number[]) =>
    Array.from({ length: channels }, (_, c) => values[values.length > 1 ? c : 0] ?? 0);
  const zeroPoints = perChannel(q.zeroPoint);
  const centered = Int16Array.from(laid, (v, i) => v - (zeroPoints[Math.floor(i / size)] ?? 0));
  const { values, scales } = toSymmetricPerChannel(centered, perChannel(q.scale));
  return { values, scales, zeroPoints: new Array<number>(channels).fill(0), channels };
}

/** [M, C, kH, kW] weights widened to `channels` input channels, the added ones all zero. */
export function withInputChannels(values: Int8Array, dims: readonly number[], channels: number) {
  const [outputs = 0, inputs = 0, ...kernel] = dims;
  const size = product(kernel);
  const widened = new Int8Array(outputs * channels * size);
  for (let o = 0; o < outputs; o++) {
    widened.set(values.subarray(o * inputs * size, (o + 1) * inputs * size), o * channels * size);
  }
  return { values: widened, dims: [outputs, channels, ...kernel] };
}
