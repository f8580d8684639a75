import { onnx } from './onnx-graph.js';
import type { Padding } from './tflite/schema.js';

// The converted graph's names and layouts: TFLite's NHWC tensors as ONNX's NCHW ones.

/** The converted model's one input: uint8 RGB pixels, [N,H,W,3] (NHWC); int8-fast's [N,H,W,4]. */
export const ONNX_INPUT_NAME = 'input';
/** The converted model's one output: float32 class probabilities, [N,classes]. */
export const ONNX_OUTPUT_NAME = 'probabilities';

export const TO_NCHW = [0, 3, 1, 2];
export const TO_NHWC = [0, 2, 3, 1];
export const { DataType } = onnx.TensorProto;

export const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Returns data laid out as `shape` permuted by `perm` (Transpose semantics). */
export function permute<T extends Float32Array | Int8Array | Uint8Array>(
  data: T,
  shape: number[],
  perm: number[],
): T {
  const rank = shape.length;
  const inStrides = shape.map((_, i) => product(shape.slice(i + 1)));
  const outShape = perm.map((p) => shape[p] ?? 0);
  const strides = perm.map((p) => inStrides[p] ?? 0);
  const out = data.slice() as T;
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = data[src] ?? 0;
    // Odometer over the output's indexes, tracking the matching source offset.
    for (let d = rank - 1; d >= 0; d--) {
      const next = (index[d] ?? 0) + 1;
      if (next < (outShape[d] ?? 0)) {
        index[d] = next;
        src += strides[d] ?? 0;
        break;
      }
      index[d] = 0;
      src -= (next - 1) * (strides[d] ?? 0);
    }
  }
  return out;
}

/** TensorFlow's padding as [begin, end]; SAME puts the odd extra row/column at the end. */
export function tfPadding(
  mode: Padding,
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
): [number, number] {
  if (mode === 'VALID') return [0, 0];
  const effectiveKernel = (kernel - 1) * dilation + 1;
  const outSize = Math.ceil(inSize / stride);
  const total = Math.max((outSize - 1) * stride + effectiveKernel - inSize, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/** ONNX pads [top, left, bottom, right] of a TFLite window over an [N,H,W,C] input. */
export function onnxPads(
  inShape: number[],
  padding: Padding,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number] = [1, 1],
): number[] {
  const [, inH = 0, inW = 0] = inShape;
  const [top, bottom] = tfPadding(padding, inH, kernel[0], strides[0], dilations[0]);
  const [left, right] = tfPadding(padding, inW, kernel[1], strides[1], dilations[1]);
  return [top, left, bottom, right];
}

/**
 * A constant ADD operand laid out to broadcast against a 4-D NCHW activation: aligned to NHWC's
 * trailing dims (numpy broadcasting), then moved to NCHW.
 */
export function broadcastOperand<T extends Float32Array | Uint8Array>(data: T, shape: number[]) {
  const nhwc = [...new Array<number>(4 - shape.length).fill(1), ...shape];
  return { dims: TO_NCHW.map((p) => nhwc[p] ?? 1), data: permute(data, nhwc, TO_NCHW) };
}

export function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}
