import { createHash } from 'node:crypto';
import { OnnxGraph, onnx } from './onnx-graph.js';
import {
  readTfliteModel,
  type TfliteModel,
  type TfliteOperator,
  type TfliteOptions,
  type TfliteQuantization,
  type TfliteSubgraph,
  type TfliteTensor,
} from './tflite/reader.js';
import {
  type Activation,
  BuiltinOperator,
  type Padding,
  TensorType,
  tensorTypeName,
} from './tflite/schema.js';

/** The converted model's one input: uint8 RGB pixels, [N,H,W,3] (NHWC). */
export const ONNX_INPUT_NAME = 'input';
/** The converted model's one output: float32 class probabilities, [N,classes]. */
export const ONNX_OUTPUT_NAME = 'probabilities';
/** metadata_props key holding the SHA-256 of the .tflite the model was converted from. */
export const SOURCE_SHA256_KEY = 'source_sha256';

const OPSET_VERSION = 13;
const IR_VERSION = 8;
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
const { DataType } = onnx.TensorProto;

type OptionsOf<K extends TfliteOptions['kind']> = Extract<TfliteOptions, { kind: K }>;

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Returns data laid out as `shape` permuted by `perm` (Transpose semantics). */
export function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const inStrides = shape.map((_, i) => product(shape.slice(i + 1)));
  const outShape = perm.map((p) => shape[p] ?? 0);
  const strides = perm.map((p) => inStrides[p] ?? 0);
  const out = new Float32Array(data.length);
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
  const inner = product(shape.slice(q.quantizedDimension + 1));
  for (let i = 0; i < out.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = ((values[i] ?? 0) - (q.zeroPoint[c] ?? 0)) * (q.scale[c] ?? 0);
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

function unsupportedOperator(op: TfliteOperator): Error {
  if (op.code.builtinCode === BuiltinOperator.CUSTOM) {
    return new Error(`Unsupported TFLite custom operator "${op.code.customCode ?? ''}"`);
  }
  return new Error(`Unsupported TFLite operator ${op.code.name} (${op.code.builtinCode})`);
}

function optionsOf<K extends TfliteOptions['kind']>(op: TfliteOperator, kind: K): OptionsOf<K> {
  if (op.options.kind !== kind) {
    throw new Error(`TFLite ${op.code.name} carries ${op.options.kind} options, expected ${kind}`);
  }
  return op.options as OptionsOf<K>;
}

function singleQuantization(t: TfliteTensor): { scale: number; zeroPoint: number } | undefined {
  const q = t.quantization;
  if (!q) return undefined;
  const [scale, zeroPoint] = [q.scale[0], q.zeroPoint[0]];
  if (q.scale.length !== 1 || scale === undefined || zeroPoint === undefined) {
    throw new Error(`TFLite tensor "${t.name}" must have one quantization scale`);
  }
  return { scale, zeroPoint };
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/**
 * Builds the ONNX graph of one TFLite subgraph. Every activation is float; 4-D activations
 * are kept in NCHW, the layout of ONNX's Conv and pools.
 */
class Importer {
  private readonly g = new OnnxGraph();
  /** TFLite tensor index -> ONNX value holding it. */
  private readonly values = new Map<number, string>();
  private readonly scalars = new Map<number, string>();

  constructor(
    private readonly model: TfliteModel,
    private readonly sg: TfliteSubgraph,
  ) {}

  build() {
    const input = this.graphInput();
    for (const op of this.sg.operators) this.convert(op);
    const output = this.graphOutput();
    return {
      node: this.g.nodes,
      initializer: this.g.initializers,
      input: [input],
      output: [output],
    };
  }

  private graphInput() {
    const [index, ...more] = this.sg.inputs;
    if (index === undefined || more.length > 0) {
      throw new Error(`Expected a TFLite model with one input, found ${this.sg.inputs.length}`);
    }
    const t = this.tensor(index);
    if (t.type !== TensorType.UINT8) {
      throw new Error(`Unsupported TFLite model input type ${tensorTypeName(t.type)} (want UINT8)`);
    }
    const q = singleQuantization(t);
    const [, h, w, c] = t.shape;
    if (t.shape.length !== 4 || h === undefined || w === undefined || c === undefined || !q) {
      throw new Error(`TFLite model input must be a quantized NHWC image, got [${t.shape}]`);
    }
    const name = this.g.reserve(ONNX_INPUT_NAME);
    // The model's own input quantization: the one place pixels are normalised.
    const asFloat = this.g.node('Cast', [name], { to: DataType.FLOAT });
    const centred = this.g.node('Sub', [
      asFloat,
      this.g.floatConst('input_zero_point', [], [q.zeroPoint]),
    ]);
    const scaled = this.g.node('Mul', [centred, this.g.floatConst('input_scale', [], [q.scale])]);
    this.values.set(index, this.g.node('Transpose', [scaled], { perm: TO_NCHW }));
    return valueInfo(name, DataType.UINT8, ['N', h, w, c]);
  }

  private graphOutput() {
    const [index, ...more] = this.sg.outputs;
    if (index === undefined || more.length > 0) {
      throw new Error(`Expected a TFLite model with one output, found ${this.sg.outputs.length}`);
    }
    const t = this.tensor(index);
    let value = this.activation(index);
    if (t.shape.length === 4) value = this.g.node('Transpose', [value], { perm: TO_NHWC });
    const name = this.g.reserve(ONNX_OUTPUT_NAME);
    this.g.node('Identity', [value], {}, name);
    return valueInfo(name, DataType.FLOAT, ['N', ...t.shape.slice(1)]);
  }

  private convert(op: TfliteOperator): void {
    switch (op.code.builtinCode) {
      case BuiltinOperator.CONV_2D:
        this.conv(op, optionsOf(op, 'Conv2DOptions'), false);
        break;
      case BuiltinOperator.DEPTHWISE_CONV_2D:
        this.conv(op, optionsOf(op, 'DepthwiseConv2DOptions'), true);
        break;
      case BuiltinOperator.AVERAGE_POOL_2D:
        this.averagePool(op);
        break;
      case BuiltinOperator.ADD:
        this.add(op);
        break;
      case BuiltinOperator.RESHAPE:
        this.reshape(op);
        break;
      case BuiltinOperator.SOFTMAX:
        this.softmax(op);
        break;
      default:
        throw unsupportedOperator(op);
    }
  }

  private conv(
    op: TfliteOperator,
    o: OptionsOf<'Conv2DOptions' | 'DepthwiseConv2DOptions'>,
    depthwise: boolean,
  ): void {
    const [xIndex = -1, wIndex = -1, bIndex = -1] = op.inputs;
    const x = this.activation(xIndex);
    const [, inH = 0, inW = 0, inC = 0] = this.tensor(xIndex).shape;
    const wt = this.tensor(wIndex);
    const [d0 = 0, kh = 0, kw = 0, d3 = 0] = wt.shape;
    if (wt.shape.length !== 4)
      throw new Error(`${op.code.name} weights must be 4-D, got [${wt.shape}]`);
    const weights = this.constant(wt);
    let inputs: string[];
    let outChannels: number;
    let group = 1;
    if (depthwise) {
      // [1,H,W,C*M] -> [C*M,1,H,W]; output channel c*M+m reads input channel c, as in a
      // grouped Conv with one group per input channel.
      if (d0 !== 1 || inC === 0 || d3 % inC !== 0) {
        throw new Error(`DEPTHWISE_CONV_2D weights [${wt.shape}] do not fit ${inC} input channels`);
      }
      outChannels = d3;
      group = inC;
      inputs = [
        x,
        this.g.floatConst('weight', [d3, 1, kh, kw], permute(weights, wt.shape, [3, 0, 1, 2])),
      ];
    } else {
      if (d3 !== inC)
        throw new Error(`CONV_2D weights [${wt.shape}] do not fit ${inC} input channels`);
      outChannels = d0;
      inputs = [
        x,
        this.g.floatConst('weight', [d0, d3, kh, kw], permute(weights, wt.shape, TO_NCHW)),
      ];
    }
    if (bIndex >= 0) {
      inputs.push(this.g.floatConst('bias', [outChannels], this.bias(bIndex, xIndex, wt)));
    }
    const [top, bottom] = tfPadding(o.padding, inH, kh, o.strideH, o.dilationH);
    const [left, right] = tfPadding(o.padding, inW, kw, o.strideW, o.dilationW);
    const y = this.g.node('Conv', inputs, {
      kernel_shape: [kh, kw],
      strides: [o.strideH, o.strideW],
      dilations: [o.dilationH, o.dilationW],
      pads: [top, left, bottom, right],
      group,
    });
    this.setOutput(op, this.fuse(y, o.fusedActivation, op));
  }

  private averagePool(op: TfliteOperator): void {
    const o = optionsOf(op, 'Pool2DOptions');
    const [xIndex = -1] = op.inputs;
    const [, inH = 0, inW = 0] = this.tensor(xIndex).shape;
    const [top, bottom] = tfPadding(o.padding, inH, o.filterHeight, o.strideH, 1);
    const [left, right] = tfPadding(o.padding, inW, o.filterWidth, o.strideW, 1);
    // TensorFlow averages over the window's real pixels only.
    const y = this.g.node('AveragePool', [this.activation(xIndex)], {
      kernel_shape: [o.filterHeight, o.filterWidth],
      strides: [o.strideH, o.strideW],
      pads: [top, left, bottom, right],
      count_include_pad: 0,
    });
    this.setOutput(op, this.fuse(y, o.fusedActivation, op));
  }

  private add(op: TfliteOperator): void {
    const o = optionsOf(op, 'AddOptions');
    const rank = this.outputTensor(op).shape.length;
    const [a = -1, b = -1] = op.inputs;
    const y = this.g.node('Add', [this.operand(a, rank), this.operand(b, rank)]);
    this.setOutput(op, this.fuse(y, o.fusedActivation, op));
  }

  private reshape(op: TfliteOperator): void {
    const [xIndex = -1] = op.inputs;
    const from = this.tensor(xIndex).shape;
    const to = this.outputTensor(op).shape;
    if (to.length === 0 || to[0] !== from[0]) {
      throw new Error(`Unsupported RESHAPE [${from}] -> [${to}]: it changes the batch dimension`);
    }
    // Reshape in TFLite's element order (NHWC); 0 keeps the batch dimension dynamic.
    let x = this.activation(xIndex);
    if (from.length === 4) x = this.g.node('Transpose', [x], { perm: TO_NHWC });
    let y = this.g.node('Reshape', [x, this.g.int64Const('shape', [0, ...to.slice(1)])]);
    if (to.length === 4) y = this.g.node('Transpose', [y], { perm: TO_NCHW });
    this.setOutput(op, y);
  }

  private softmax(op: TfliteOperator): void {
    const { beta } = optionsOf(op, 'SoftmaxOptions');
    const [xIndex = -1] = op.inputs;
    let x = this.activation(xIndex);
    if (beta !== 1) x = this.g.node('Mul', [x, this.scalar(beta)]);
    // Channels are axis 1 of an NCHW activation, the last axis otherwise.
    const axis = this.tensor(xIndex).shape.length === 4 ? 1 : -1;
    this.setOutput(op, this.g.node('Softmax', [x], { axis }));
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
    // Align to NHWC's trailing dims (numpy broadcasting), then move to NCHW.
    const nhwc = [...new Array<number>(4 - t.shape.length).fill(1), ...t.shape];
    const nchw = TO_NCHW.map((p) => nhwc[p] ?? 1);
    return this.g.floatConst('const', nchw, permute(data, nhwc, TO_NCHW));
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

  private elements(t: TfliteTensor): Float32Array | Int32Array | Uint8Array | Int8Array {
    if (t.sparse) throw new Error(`Unsupported sparse TFLite tensor "${t.name}"`);
    const bytes = this.model.buffers[t.buffer];
    if (!bytes || bytes.length === 0) {
      throw new Error(`TFLite tensor "${t.name}" is neither computed before use nor constant`);
    }
    const count = product(t.shape);
    const check = (elementSize: number) => {
      if (bytes.length !== count * elementSize) {
        throw new Error(
          `TFLite tensor "${t.name}" has ${bytes.length} bytes for shape [${t.shape}]`,
        );
      }
      // Copy: a view into the file need not be aligned for a typed array.
      return new Uint8Array(bytes).buffer;
    };
    switch (t.type) {
      case TensorType.FLOAT32:
        return new Float32Array(check(4));
      case TensorType.INT32:
        return new Int32Array(check(4));
      case TensorType.UINT8:
        return new Uint8Array(check(1));
      case TensorType.INT8:
        return new Int8Array(check(1));
      default:
        throw new Error(
          `Unsupported TFLite tensor type ${tensorTypeName(t.type)} (tensor "${t.name}")`,
        );
    }
  }

  private activation(index: number): string {
    const value = this.values.get(index);
    if (value) return value;
    const t = this.tensor(index);
    throw new Error(`TFLite tensor "${t.name}" is used before an operator computes it`);
  }

  private outputTensor(op: TfliteOperator): TfliteTensor {
    const [index, ...more] = op.outputs;
    if (index === undefined || more.length > 0) {
      throw new Error(`TFLite ${op.code.name} with ${op.outputs.length} outputs is not supported`);
    }
    return this.tensor(index);
  }

  private setOutput(op: TfliteOperator, value: string): void {
    const t = this.outputTensor(op);
    const allowed: number[] = [TensorType.FLOAT32, TensorType.UINT8, TensorType.INT8];
    if (!allowed.includes(t.type)) {
      throw new Error(
        `Unsupported TFLite tensor type ${tensorTypeName(t.type)} (output "${t.name}" of ${op.code.name})`,
      );
    }
    this.values.set(t.index, value);
  }

  private tensor(index: number): TfliteTensor {
    const t = this.sg.tensors[index];
    if (!t) throw new Error(`TFLite operator refers to missing tensor ${index}`);
    return t;
  }
}

/**
 * Converts a TFLite MobileNet-style classifier into ONNX (opset 13) with float weights.
 * Contract: one uint8 input `input` [N,H,W,C] and one float output `probabilities`.
 */
export function convertTfliteToOnnx(tflite: Uint8Array): Uint8Array {
  const model = readTfliteModel(tflite);
  const [subgraph] = model.subgraphs;
  if (!subgraph) throw new Error('TFLite model has no subgraph');
  const graph = new Importer(model, subgraph).build();
  const sourceSha256 = createHash('sha256').update(tflite).digest('hex');
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: '@imagerec/model',
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    docString: model.description,
    metadataProps: [{ key: SOURCE_SHA256_KEY, value: sourceSha256 }],
    graph: { name: subgraph.name || 'tflite', ...graph },
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The source checksum a converted model carries; undefined when it has none. */
export function readOnnxSourceSha256(onnxBytes: Uint8Array): string | undefined {
  const proto = onnx.ModelProto.decode(onnxBytes);
  return proto.metadataProps.find((p) => p.key === SOURCE_SHA256_KEY)?.value ?? undefined;
}
