import {
  type ConvOptions,
  type ConvWeights,
  GraphImporter,
  type OptionsOf,
  singleQuantization,
  unsupportedType,
} from './graph-importer.js';
import { KERNEL_CHANNEL_ALIGNMENT, PIXEL_CHANNELS } from './model-input.js';
import {
  broadcastOperand,
  DataType,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  TO_NCHW,
  TO_NHWC,
  valueInfo,
} from './onnx-layout.js';
import {
  activationRange,
  biasScaleFits,
  type QuantParams,
  roundHalfAwayFromZero,
  UINT8_RANGE,
} from './quantization.js';
import { signedWeights, symmetricWeights, withInputChannels } from './quantized-weights.js';
import type { TfliteModel, TfliteOperator, TfliteSubgraph, TfliteTensor } from './tflite/reader.js';
import { type Activation, BuiltinOperator, TensorType } from './tflite/schema.js';

/** onnxruntime's contrib domain: QLinearAdd and the quantized pools live there. */
export const MS_DOMAIN = 'com.microsoft';
export const QUANTIZED = [TensorType.UINT8];

/**
 * How the int8 graph computes: `tflite-weights`, TFLite's own weights in QLinearConv (which
 * requantizes with a float multiplier); `symmetric-weights`, the weights requantized as
 * symmetric int8 per output channel, the form of onnxruntime's fastest kernels;
 * `fixed-point`, TFLite's own arithmetic exactly: integer sums (ConvInteger) requantized
 * TFLite's way in int64 operators, slow.
 */
export type QuantizedForm = 'tflite-weights' | 'symmetric-weights' | 'fixed-point';

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
    private readonly form: Exclude<QuantizedForm, 'fixed-point'> = 'tflite-weights',
  ) {
    super(model, subgraph);
  }

  /** TFLite tensor index -> its [scale, zero point] initializers. */
  private readonly params = new Map<number, [string, string]>();
  /** TFLite tensors whose ONNX value is already float (dequantized). */
  private readonly floats = new Set<number>();
  /** The graph input, where it takes more channels than TFLite's (see inputChannels). */
  private widenedInput?: { index: number; channels: number };

  protected graphInput(t: TfliteTensor) {
    const [, h = 0, w = 0] = t.shape;
    // The pixels are the TFLite input's quantized values as they are.
    const name = this.g.reserve(ONNX_INPUT_NAME);
    this.values.set(t.index, this.g.node('Transpose', [name], { perm: TO_NCHW }));
    return valueInfo(name, DataType.UINT8, ['N', h, w, this.inputChannels(t)]);
  }

  /**
   * With symmetric weights an RGB input takes a fourth channel, with zero weights: onnxruntime's
   * indirect convolution kernel needs input channels in multiples of 4, and runs the first
   * convolution in about half the time of the matrix product it falls back to. Only where the
   * input feeds nothing but full convolutions, whose weights can take the channel.
   */
  private inputChannels(t: TfliteTensor): number {
    const channels = t.shape[3] ?? 0;
    const readers = this.sg.operators.filter((op) => op.inputs.includes(t.index));
    const convolutionsOnly = readers.every(
      (op) => op.code.builtinCode === BuiltinOperator.CONV_2D && op.inputs.indexOf(t.index) === 0,
    );
    if (this.form !== 'symmetric-weights' || channels !== PIXEL_CHANNELS || !convolutionsOnly) {
      return channels;
    }
    this.widenedInput = { index: t.index, channels: KERNEL_CHANNEL_ALIGNMENT };
    return KERNEL_CHANNEL_ALIGNMENT;
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
    const weights =
      this.form === 'symmetric-weights'
        ? symmetricWeights(w, this.elements(w.tensor))
        : signedWeights(w, this.elements(w.tensor));
    const laid =
      this.widenedInput?.index === xIndex
        ? withInputChannels(weights.values, w.dims, this.widenedInput.channels)
        : { values: weights.values, dims: w.dims };
    const dims = weights.channels ? [weights.channels] : [];
    const inputs = [
      x,
      ...this.quantParams(xIndex),
      this.g.int8Const('weight', laid.dims, laid.values),
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

  /** The quantized bounds of a fused activation on the operator's output. */
  protected activationBounds(activation: Activation, op: TfliteOperator): [number, number] {
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

  /**
   * The int32 bias: TFLite's scale must be input scale x weight scale; with other weight
   * scales (symmetric weights) it is rescaled to input scale x each channel's new scale.
   */
  protected bias(
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
  protected operand(index: number, rank: number): string {
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

  protected quantizedInput(index: number): string {
    const value = this.activation(index);
    if (this.floats.has(index)) {
      throw new Error(`TFLite tensor "${this.tensor(index).name}" is float in the int8 graph`);
    }
    this.quantization(this.tensor(index));
    return value;
  }

  protected quantization(t: TfliteTensor): QuantParams {
    if (t.type !== TensorType.UINT8) throw unsupportedType(t);
    const q = singleQuantization(t);
    if (!q) throw new Error(`TFLite tensor "${t.name}" has no quantization parameters`);
    return q;
  }

  protected quantParams(index: number): [string, string] {
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
