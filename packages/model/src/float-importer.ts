import {
  type ConvOptions,
  type ConvWeights,
  GraphImporter,
  type OptionsOf,
  singleQuantization,
} from './graph-importer.js';
import {
  broadcastOperand,
  DataType,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  permute,
  TO_NCHW,
  TO_NHWC,
  valueInfo,
} from './onnx-layout.js';
import type { TfliteOperator, TfliteQuantization, TfliteTensor } from './tflite/reader.js';
import { type Activation, TensorType, tensorTypeName } from './tflite/schema.js';

const OUTPUT_TYPES = [TensorType.FLOAT32, TensorType.UINT8, TensorType.INT8];

/** (q - zero_point) * scale, per tensor or per channel along quantized_dimension. */
export function dequantize(
  values: ArrayLike<number>,
  shape: number[],
  q: TfliteQuantization,
): Float32Array {
  const out = new Float32Array(values.length);
  const channels = q.scale.length === 1 ? 1 : (shape[q.quantizedDimension] ?? 0);
  if (channels !== q.scale.length || q.zeroPoint.length !== q.scale.length) {
    throw new Error(
      `Quantization with ${q.scale.length} scales does not fit shape [${shape}] along dimension ${q.quantizedDimension}`,
    );
  }
  const inner = shape.slice(q.quantizedDimension + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < out.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = ((values[i] ?? 0) - (q.zeroPoint[c] ?? 0)) * (q.scale[c] ?? 0);
  }
  return out;
}

/** The fp32 graph: weights dequantized once, every activation float. */
export class FloatImporter extends GraphImporter {
  private readonly scalars = new Map<number, string>();

  protected graphInput(t: TfliteTensor) {
    const q = singleQuantization(t);
    const [, h = 0, w = 0, c = 0] = t.shape;
    const name = this.g.reserve(ONNX_INPUT_NAME);
    // The model's own input quantization: the one place pixels are normalised.
    const asFloat = this.g.node('Cast', [name], { to: DataType.FLOAT });
    const centred = this.g.node('Sub', [
      asFloat,
      this.g.floatConst('input_zero_point', [], [q?.zeroPoint ?? 0]),
    ]);
    const scaled = this.g.node('Mul', [
      centred,
      this.g.floatConst('input_scale', [], [q?.scale ?? 1]),
    ]);
    this.values.set(t.index, this.g.node('Transpose', [scaled], { perm: TO_NCHW }));
    return valueInfo(name, DataType.UINT8, ['N', h, w, c]);
  }

  protected graphOutput(t: TfliteTensor) {
    let value = this.activation(t.index);
    if (t.shape.length === 4) value = this.g.node('Transpose', [value], { perm: TO_NHWC });
    const name = this.g.reserve(ONNX_OUTPUT_NAME);
    this.g.node('Identity', [value], {}, name);
    return valueInfo(name, DataType.FLOAT, ['N', ...t.shape.slice(1)]);
  }

  protected conv(op: TfliteOperator, o: ConvOptions, w: ConvWeights): void {
    const [xIndex = -1, , bIndex = -1] = op.inputs;
    const inputs = [
      this.activation(xIndex),
      this.g.floatConst('weight', w.dims, permute(this.constant(w.tensor), w.tensor.shape, w.perm)),
    ];
    if (bIndex >= 0) {
      inputs.push(this.g.floatConst('bias', [w.dims[0] ?? 0], this.bias(bIndex, xIndex, w.tensor)));
    }
    const y = this.g.node('Conv', inputs, this.convAttributes(xIndex, o, w));
    this.setOutput(op, this.fuse(y, o.fusedActivation, op), OUTPUT_TYPES);
  }

  protected averagePool(op: TfliteOperator, o: OptionsOf<'Pool2DOptions'>): void {
    const [xIndex = -1] = op.inputs;
    const y = this.g.node('AveragePool', [this.activation(xIndex)], this.poolAttributes(xIndex, o));
    this.setOutput(op, this.fuse(y, o.fusedActivation, op), OUTPUT_TYPES);
  }

  protected add(op: TfliteOperator, o: OptionsOf<'AddOptions'>): void {
    const rank = this.outputTensor(op).shape.length;
    const [a = -1, b = -1] = op.inputs;
    const y = this.g.node('Add', [this.operand(a, rank), this.operand(b, rank)]);
    this.setOutput(op, this.fuse(y, o.fusedActivation, op), OUTPUT_TYPES);
  }

  protected reshape(op: TfliteOperator): void {
    this.setOutput(op, this.reshapeValue(op), OUTPUT_TYPES);
  }

  protected softmax(op: TfliteOperator, { beta }: OptionsOf<'SoftmaxOptions'>): void {
    const [xIndex = -1] = op.inputs;
    const y = this.softmaxOf(this.activation(xIndex), op, beta, () => this.scalar(beta));
    this.setOutput(op, y, OUTPUT_TYPES);
  }

  private fuse(x: string, activation: Activation, op: TfliteOperator): string {
    switch (activation) {
      case 'NONE':
        return x;
      case 'RELU':
        return this.g.node('Relu', [x]);
      case 'RELU6':
        return this.g.node('Clip', [x, this.scalar(0), this.scalar(6)]);
      case 'RELU_N1_TO_1':
        return this.g.node('Clip', [x, this.scalar(-1), this.scalar(1)]);
      default:
        throw new Error(`Unsupported fused activation ${activation} on TFLite ${op.code.name}`);
    }
  }

  private scalar(value: number): string {
    let name = this.scalars.get(value);
    if (!name) {
      name = this.g.floatConst('scalar', [], [value]);
      this.scalars.set(value, name);
    }
    return name;
  }

  /** An ADD operand: an activation, or a constant laid out to broadcast like one. */
  private operand(index: number, rank: number): string {
    const value = this.values.get(index);
    if (value) return value;
    const t = this.tensor(index);
    const data = this.constant(t);
    if (rank !== 4) return this.g.floatConst('const', t.shape, data);
    const laid = broadcastOperand(data, t.shape);
    return this.g.floatConst('const', laid.dims, laid.data);
  }

  private bias(index: number, inputIndex: number, weights: TfliteTensor): Float32Array {
    const t = this.tensor(index);
    if (t.type !== TensorType.INT32 || t.quantization) return this.constant(t);
    // A quantized bias without its own scale uses input scale x weight scale.
    const input = singleQuantization(this.tensor(inputIndex));
    const wq = weights.quantization;
    if (!input || !wq) {
      throw new Error(
        `INT32 bias "${t.name}" has no scale and its input or weights are not quantized`,
      );
    }
    return dequantize(this.elements(t), t.shape, {
      scale: wq.scale.map((s) => s * input.scale),
      zeroPoint: wq.scale.map(() => 0),
      quantizedDimension: 0,
    });
  }

  /** A constant tensor's values as float32 in TFLite's layout. */
  private constant(t: TfliteTensor): Float32Array {
    const values = this.elements(t);
    if (values instanceof Float32Array) return values;
    if (!t.quantization) {
      throw new Error(
        `TFLite tensor "${t.name}" of type ${tensorTypeName(t.type)} has no quantization parameters`,
      );
    }
    return dequantize(values, t.shape, t.quantization);
  }
}
