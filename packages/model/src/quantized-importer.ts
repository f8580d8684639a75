import {
  broadcastOperand,
  type ConvOptions,
  type ConvWeights,
  DataType,
  GraphImporter,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  type OptionsOf,
  permute,
  singleQuantization,
  TO_NCHW,
  TO_NHWC,
  unsupportedType,
  valueInfo,
} from './graph-importer.js';
import {
  activationRange,
  biasScaleFits,
  fixedPointDivision,
  type QuantParams,
  roundHalfAwayFromZero,
  toSignedWeights,
  toSymmetricPerChannel,
  UINT8_RANGE,
} from './quantization.js';
import type { TfliteModel, TfliteOperator, TfliteSubgraph, TfliteTensor } from './tflite/reader.js';
import { type Activation, TensorType } from './tflite/schema.js';

/** onnxruntime's contrib domain: QLinearAdd and the quantized pools live there. */
export const MS_DOMAIN = 'com.microsoft';
const QUANTIZED = [TensorType.UINT8];

/** Convolution weights as QLinearConv takes them: int8 values, scales, zero points. */
interface QLinearWeights {
  values: Int8Array;
  scales: readonly number[];
  zeroPoints: readonly number[];
  /** Output channels of the scales and zero points; 0 for one pair for all. */
  channels: number;
}

/**
 * How the int8 graph computes: `tflite-weights`, TFLite's own weights in QLinearConv (which
 * requantizes with a float multiplier); `symmetric-weights`, the weights requantized as
 * symmetric int8 per output channel, the form of onnxruntime's fastest kernels;
 * `fixed-point`, TFLite's own arithmetic exactly: integer sums (ConvInteger) requantized
 * TFLite's way in int64 operators, slow.
 */
export type QuantizedForm = 'tflite-weights' | 'symmetric-weights' | 'fixed-point';

/** TFLite's quantized ADD shifts both inputs left by this many bits before rescaling them. */
const ADD_LEFT_SHIFT = 20;

/**
 * The int8 graph: TFLite's own uint8 tensors, scales and zero points in ONNX's quantized
 * operators (QOperator form), with int32 biases as they are. Activations stay uint8; weights
 * become int8 (see toSignedWeights). Only the softmax runs in float, on the dequantized logits,
 * so the probabilities are not rounded to TFLite's 1/256 steps.
 */
export class QuantizedImporter extends GraphImporter {
  constructor(
    model: TfliteModel,
    subgraph: TfliteSubgraph,
    private readonly form: QuantizedForm = 'tflite-weights',
  ) {
    super(model, subgraph);
  }

  /** TFLite tensor index -> its [scale, zero point] initializers. */
  private readonly params = new Map<number, [string, string]>();
  /** TFLite tensors whose ONNX value is already float (dequantized). */
  private readonly floats = new Set<number>();

  protected graphInput(t: TfliteTensor) {
    const [, h = 0, w = 0, c = 0] = t.shape;
    // The pixels are the TFLite input's quantized values as they are.
    const name = this.g.reserve(ONNX_INPUT_NAME);
    this.values.set(t.index, this.g.node('Transpose', [name], { perm: TO_NCHW }));
    return valueInfo(name, DataType.UINT8, ['N', h, w, c]);
  }

  protected graphOutput(t: TfliteTensor) {
    let value = this.activation(t.index);
    if (!this.floats.has(t.index)) {
      value = this.g.node('DequantizeLinear', [value, ...this.quantParams(t.index)]);
    }
    if (t.shape.length === 4) value = this.g.node('Transpose', [value], { perm: TO_NHWC });
    const name = this.g.reserve(ONNX_OUTPUT_NAME);
    this.g.node('Identity', [value], {}, name);
    return valueInfo(name, DataType.FLOAT, ['N', ...t.shape.slice(1)]);
  }

  protected conv(op: TfliteOperator, o: ConvOptions, w: ConvWeights): void {
    const [xIndex = -1, , bIndex = -1] = op.inputs;
    const out = this.outputTensor(op);
    const x = this.quantizedInput(xIndex);
    if (this.form === 'fixed-point') {
      const sums = this.integerSums(x, xIndex, bIndex, o, w);
      // TFLite's GetQuantizedConvolutionMultipler: the scales' product rounded to float, then
      // divided in double (a product kept in double moves some multipliers by one step).
      const xScale = this.quantization(this.tensor(xIndex)).scale;
      const reals = (w.tensor.quantization?.scale ?? []).map(
        (s) => Math.fround(xScale * s) / Math.fround(this.quantization(out).scale),
      );
      this.setOutput(op, this.fixedPointOutput(sums, reals, o.fusedActivation, op), QUANTIZED);
      return;
    }
    const weights =
      this.form === 'symmetric-weights' ? this.symmetricWeights(w) : this.signedWeights(w);
    const dims = weights.channels ? [weights.channels] : [];
    const inputs = [
      x,
      ...this.quantParams(xIndex),
      this.g.int8Const('weight', w.dims, weights.values),
      this.g.floatConst('weight_scale', dims, [...weights.scales]),
      this.g.int8Const('weight_zero_point', dims, [...weights.zeroPoints]),
      ...this.quantParams(out.index),
    ];
    if (bIndex >= 0) inputs.push(this.bias(bIndex, xIndex, w, weights.scales));
    const y = this.g.node('QLinearConv', inputs, this.convAttributes(xIndex, o, w));
    this.setOutput(op, this.clamp(y, o.fusedActivation, op), QUANTIZED);
  }

  protected averagePool(op: TfliteOperator, o: OptionsOf<'Pool2DOptions'>): void {
    const [xIndex = -1] = op.inputs;
    const inShape = this.tensor(xIndex).shape;
    const inputs = [
      this.quantizedInput(xIndex),
      ...this.quantParams(xIndex),
      ...this.quantParams(this.outputTensor(op).index),
    ];
    const global =
      o.padding === 'VALID' && o.filterHeight === inShape[1] && o.filterWidth === inShape[2];
    const y = global
      ? this.g.node('QLinearGlobalAveragePool', inputs, { channels_last: 0 }, undefined, MS_DOMAIN)
      : this.g.node(
          'QLinearAveragePool',
          inputs,
          this.poolAttributes(xIndex, o),
          undefined,
          MS_DOMAIN,
        );
    this.setOutput(op, this.clamp(y, o.fusedActivation, op), QUANTIZED);
  }

  protected add(op: TfliteOperator, o: OptionsOf<'AddOptions'>): void {
    const out = this.outputTensor(op);
    const [a = -1, b = -1] = op.inputs;
    if (this.form === 'fixed-point') {
      this.setOutput(op, this.fixedPointAdd(op, o, a, b), QUANTIZED);
      return;
    }
    const inputs = [
      this.operand(a, out.shape.length),
      ...this.quantParams(a),
      this.operand(b, out.shape.length),
      ...this.quantParams(b),
      ...this.quantParams(out.index),
    ];
    const y = this.g.node('QLinearAdd', inputs, {}, undefined, MS_DOMAIN);
    this.setOutput(op, this.clamp(y, o.fusedActivation, op), QUANTIZED);
  }

  protected reshape(op: TfliteOperator): void {
    const [xIndex = -1] = op.inputs;
    this.quantizedInput(xIndex);
    const out = this.outputTensor(op);
    const from = this.quantization(this.tensor(xIndex));
    const to = this.quantization(out);
    if (from.scale !== to.scale || from.zeroPoint !== to.zeroPoint) {
      throw new Error(`Unsupported RESHAPE to "${out.name}": it changes the quantization`);
    }
    this.setOutput(op, this.reshapeValue(op), QUANTIZED);
  }

  protected softmax(op: TfliteOperator, { beta }: OptionsOf<'SoftmaxOptions'>): void {
    const [xIndex = -1] = op.inputs;
    const x = this.floats.has(xIndex)
      ? this.activation(xIndex)
      : this.g.node('DequantizeLinear', [this.activation(xIndex), ...this.quantParams(xIndex)]);
    const y = this.softmaxOf(x, op, beta, () => this.g.floatConst('beta', [], [beta]));
    this.setOutput(op, y, QUANTIZED);
    this.floats.add(this.outputTensor(op).index);
  }

  /** ConvInteger's int32 sums of (x - zx)(w - zw), plus the bias: TFLite's accumulators. */
  private integerSums(
    x: string,
    xIndex: number,
    bIndex: number,
    o: ConvOptions,
    w: ConvWeights,
  ): string {
    const weights = this.signedWeights(w);
    if (weights.channels) {
      throw new Error(
        `Fixed-point conversion needs per-tensor weights, "${w.tensor.name}" are not`,
      );
    }
    let sums = this.g.node(
      'ConvInteger',
      [
        x,
        this.g.int8Const('weight', w.dims, weights.values),
        // The zero point alone: a scale nothing reads would be an unused initializer.
        this.g.uint8Const('zero_point', [], [this.quantization(this.tensor(xIndex)).zeroPoint]),
        this.g.int8Const('weight_zero_point', [], [...weights.zeroPoints]),
      ],
      this.convAttributes(xIndex, o, w),
    );
    if (bIndex >= 0) {
      const bias = this.bias(bIndex, xIndex, w, weights.scales, [w.dims[0] ?? 0, 1, 1]);
      sums = this.g.node('Add', [sums, bias]);
    }
    return this.g.node('Cast', [sums], { to: DataType.INT64 });
  }

  /**
   * TFLite's MultiplyByQuantizedMultiplier of int64 values by `reals` (one, or one per output
   * channel of an NCHW tensor), as one truncating division (fixedPointDivision).
   */
  private requantize(x: string, reals: readonly number[]): string {
    const steps = reals.map(fixedPointDivision);
    const dims = steps.length > 1 ? [steps.length, 1, 1] : [1];
    const constant = (base: string, values: number[]) => this.g.int64Const(base, values, dims);
    const product = this.g.node('Mul', [
      x,
      constant(
        'multiplier',
        steps.map((s) => s.multiplier),
      ),
    ]);
    const negative = this.g.node('Less', [product, this.g.int64Const('zero', [0])]);
    const nudge = this.g.node('Where', [
      negative,
      constant(
        'nudge_negative',
        steps.map((s) => 1 - s.nudge),
      ),
      constant(
        'nudge',
        steps.map((s) => s.nudge),
      ),
    ]);
    const nudged = this.g.node('Add', [product, nudge]);
    return this.g.node('Div', [
      nudged,
      constant(
        'divisor',
        steps.map((s) => s.divisor),
      ),
    ]);
  }

  /** Requantized int64 sums as TFLite's uint8 output: plus the zero point, clamped, narrowed. */
  private fixedPointOutput(
    sums: string,
    reals: readonly number[],
    activation: Activation,
    op: TfliteOperator,
  ): string {
    const q = this.quantization(this.outputTensor(op));
    const [lo, hi] = this.activationBounds(activation, op);
    const shifted = this.g.node('Add', [
      this.requantize(sums, reals),
      this.g.int64Const('zero_point', [q.zeroPoint]),
    ]);
    // Always clamped: Cast wraps around where TFLite saturates.
    const clamped = this.g.node('Clip', [
      shifted,
      this.g.int64Const('clip_min', [lo], []),
      this.g.int64Const('clip_max', [hi], []),
    ]);
    return this.g.node('Cast', [clamped], { to: DataType.UINT8 });
  }

  /**
   * TFLite's quantized ADD: each input less its zero point, shifted left 20 bits, rescaled to
   * twice the larger input scale; the sum rescaled to the output's.
   */
  private fixedPointAdd(
    op: TfliteOperator,
    o: OptionsOf<'AddOptions'>,
    a: number,
    b: number,
  ): string {
    const rank = this.outputTensor(op).shape.length;
    const scaleOf = (index: number) => Math.fround(this.quantization(this.tensor(index)).scale);
    const twiceMax = 2 * Math.max(scaleOf(a), scaleOf(b));
    const rescaled = (index: number) => {
      const wide = this.g.node('Cast', [this.operand(index, rank)], { to: DataType.INT64 });
      const centered = this.g.node('Sub', [
        wide,
        this.g.int64Const('zero_point', [this.quantization(this.tensor(index)).zeroPoint]),
      ]);
      const shifted = this.g.node('Mul', [
        centered,
        this.g.int64Const('left_shift', [2 ** ADD_LEFT_SHIFT]),
      ]);
      return this.requantize(shifted, [scaleOf(index) / twiceMax]);
    };
    const sum = this.g.node('Add', [rescaled(a), rescaled(b)]);
    const outScale = Math.fround(this.quantization(this.outputTensor(op)).scale);
    return this.fixedPointOutput(
      sum,
      [twiceMax / (2 ** ADD_LEFT_SHIFT * outScale)],
      o.fusedActivation,
      op,
    );
  }

  /** The quantized bounds of a fused activation on the operator's output. */
  private activationBounds(activation: Activation, op: TfliteOperator): [number, number] {
    try {
      return activationRange(activation, this.quantization(this.outputTensor(op)));
    } catch (err) {
      throw new Error(`${(err as Error).message} on TFLite ${op.code.name}`);
    }
  }

  /** The quantized clamp of a fused activation; none where it is the type's whole range. */
  private clamp(y: string, activation: Activation, op: TfliteOperator): string {
    const [lo, hi] = this.activationBounds(activation, op);
    if (lo === UINT8_RANGE[0] && hi === UINT8_RANGE[1]) return y;
    return this.g.node('Clip', [
      y,
      this.g.uint8Const('clip_min', [], [lo]),
      this.g.uint8Const('clip_max', [], [hi]),
    ]);
  }

  /** TFLite's weights as int8 in ONNX's layout, with their scales and one zero point. */
  private signedWeights(w: ConvWeights): QLinearWeights {
    const t = w.tensor;
    const q = t.quantization;
    const data = this.elements(t);
    if (!q || !(data instanceof Uint8Array || data instanceof Int8Array)) {
      throw new Error(`int8 conversion needs quantized 8-bit weights, "${t.name}" are not`);
    }
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
  private symmetricWeights(w: ConvWeights): QLinearWeights {
    const t = w.tensor;
    const q = t.quantization;
    const data = this.elements(t);
    if (!q || !(data instanceof Uint8Array || data instanceof Int8Array)) {
      throw new Error(`int8 conversion needs quantized 8-bit weights, "${t.name}" are not`);
    }
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

  /**
   * The int32 bias: TFLite's scale must be input scale x weight scale; with other weight
   * scales (symmetric weights) it is rescaled to input scale x each channel's new scale.
   */
  private bias(
    index: number,
    inputIndex: number,
    w: ConvWeights,
    scales: readonly number[],
    dims = [w.dims[0] ?? 0],
  ): string {
    const t = this.tensor(index);
    const data = this.elements(t);
    if (!(data instanceof Int32Array)) {
      throw new Error(`int8 conversion needs an INT32 bias, "${t.name}" is not`);
    }
    const inputScale = this.quantization(this.tensor(inputIndex)).scale;
    const weightScales = w.tensor.quantization?.scale ?? [];
    const biasScales = t.quantization?.scale;
    if (biasScales) {
      const fits = biasScales.every((s, i) =>
        biasScaleFits(s, inputScale, weightScales[i] ?? weightScales[0] ?? 0),
      );
      if (!fits) {
        throw new Error(`Bias "${t.name}" is not scaled by input scale x weight scale`);
      }
    }
    // The same array: TFLite's own weight scales, the bias as it is.
    const rescaled =
      scales === weightScales
        ? data
        : data.map((b, c) => {
            const from = weightScales[c] ?? weightScales[0] ?? 0;
            return roundHalfAwayFromZero((b * from) / (scales[c] ?? scales[0] ?? 1));
          });
    return this.g.int32Const('bias', dims, rescaled);
  }

  /** An ADD operand: an activation, or a quantized constant laid out to broadcast like one. */
  private operand(index: number, rank: number): string {
    const value = this.values.get(index);
    if (value) return this.quantizedInput(index);
    const t = this.tensor(index);
    const data = this.elements(t);
    if (!(data instanceof Uint8Array)) throw unsupportedType(t);
    this.quantization(t);
    if (rank !== 4) return this.g.uint8Const('const', t.shape, data);
    const laid = broadcastOperand(data, t.shape);
    return this.g.uint8Const('const', laid.dims, laid.data);
  }

  private quantizedInput(index: number): string {
    const value = this.activation(index);
    if (this.floats.has(index)) {
      throw new Error(`TFLite tensor "${this.tensor(index).name}" is float in the int8 graph`);
    }
    this.quantization(this.tensor(index));
    return value;
  }

  private quantization(t: TfliteTensor): QuantParams {
    if (t.type !== TensorType.UINT8) throw unsupportedType(t);
    const q = singleQuantization(t);
    if (!q) throw new Error(`TFLite tensor "${t.name}" has no quantization parameters`);
    return q;
  }

  private quantParams(index: number): [string, string] {
    let names = this.params.get(index);
    if (!names) {
      const q = this.quantization(this.tensor(index));
      names = [
        this.g.floatConst('scale', [], [q.scale]),
        this.g.uint8Const('zero_point', [], [q.zeroPoint]),
      ];
      this.params.set(index, names);
    }
    return names;
  }
}
