import { OnnxGraph, type onnx } from './onnx-graph.js';
import { onnxPads, product, TO_NCHW, TO_NHWC, type valueInfo } from './onnx-layout.js';
import type {
  TfliteModel,
  TfliteOperator,
  TfliteOptions,
  TfliteSubgraph,
  TfliteTensor,
} from './tflite/reader.js';
import { BuiltinOperator, TensorType, tensorTypeName } from './tflite/schema.js';

export type OptionsOf<K extends TfliteOptions['kind']> = Extract<TfliteOptions, { kind: K }>;
export type ConvOptions = OptionsOf<'Conv2DOptions' | 'DepthwiseConv2DOptions'>;

export function singleQuantization(
  t: TfliteTensor,
): { scale: number; zeroPoint: number } | undefined {
  const q = t.quantization;
  if (!q) return undefined;
  const [scale, zeroPoint] = [q.scale[0], q.zeroPoint[0]];
  if (q.scale.length !== 1 || scale === undefined || zeroPoint === undefined) {
    throw new Error(`TFLite tensor "${t.name}" must have one quantization scale`);
  }
  return { scale, zeroPoint };
}

/** A convolution's weights in ONNX's [M, C/group, kH, kW] layout, still in TFLite's type. */
export interface ConvWeights {
  tensor: TfliteTensor;
  dims: number[];
  /** TFLite layout -> ONNX layout. */
  perm: number[];
  group: number;
  kernel: [number, number];
}

export type ConvertedGraph = Pick<
  InstanceType<typeof onnx.GraphProto>,
  'node' | 'initializer' | 'input' | 'output'
>;

/**
 * What every conversion of one TFLite subgraph shares: walking the operators, tensor lookups,
 * constant data, and refusing what it does not support by name. 4-D activations are kept in
 * NCHW, the layout of ONNX's convolutions and pools.
 */
export abstract class GraphImporter {
  protected readonly g = new OnnxGraph();
  /** TFLite tensor index -> ONNX value holding it. */
  protected readonly values = new Map<number, string>();

  constructor(
    protected readonly model: TfliteModel,
    protected readonly sg: TfliteSubgraph,
  ) {}

  build(): ConvertedGraph {
    const input = this.graphInput(this.inputTensor());
    for (const op of this.sg.operators) this.convert(op);
    const output = this.graphOutput(this.outputTensorOfGraph());
    return {
      node: this.g.nodes,
      initializer: this.g.initializers,
      input: [input],
      output: [output],
    };
  }

  protected abstract graphInput(t: TfliteTensor): ReturnType<typeof valueInfo>;
  protected abstract graphOutput(t: TfliteTensor): ReturnType<typeof valueInfo>;
  protected abstract conv(op: TfliteOperator, o: ConvOptions, weights: ConvWeights): void;
  protected abstract averagePool(op: TfliteOperator, o: OptionsOf<'Pool2DOptions'>): void;
  protected abstract add(op: TfliteOperator, o: OptionsOf<'AddOptions'>): void;
  protected abstract reshape(op: TfliteOperator): void;
  protected abstract softmax(op: TfliteOperator, o: OptionsOf<'SoftmaxOptions'>): void;

  private inputTensor(): TfliteTensor {
    const [index, ...more] = this.sg.inputs;
    if (index === undefined || more.length > 0) {
      throw new Error(`Expected a TFLite model with one input, found ${this.sg.inputs.length}`);
    }
    const t = this.tensor(index);
    if (t.type !== TensorType.UINT8) {
      throw new Error(`Unsupported TFLite model input type ${tensorTypeName(t.type)} (want UINT8)`);
    }
    if (t.shape.length !== 4 || !singleQuantization(t)) {
      throw new Error(`TFLite model input must be a quantized NHWC image, got [${t.shape}]`);
    }
    return t;
  }

  private outputTensorOfGraph(): TfliteTensor {
    const [index, ...more] = this.sg.outputs;
    if (index === undefined || more.length > 0) {
      throw new Error(`Expected a TFLite model with one output, found ${this.sg.outputs.length}`);
    }
    return this.tensor(index);
  }

  private convert(op: TfliteOperator): void {
    switch (op.code.builtinCode) {
      case BuiltinOperator.CONV_2D: {
        const o = optionsOf(op, 'Conv2DOptions');
        this.conv(op, o, this.convWeights(op, false));
        break;
      }
      case BuiltinOperator.DEPTHWISE_CONV_2D: {
        const o = optionsOf(op, 'DepthwiseConv2DOptions');
        this.conv(op, o, this.convWeights(op, true));
        break;
      }
      case BuiltinOperator.AVERAGE_POOL_2D:
        this.averagePool(op, optionsOf(op, 'Pool2DOptions'));
        break;
      case BuiltinOperator.ADD:
        this.add(op, optionsOf(op, 'AddOptions'));
        break;
      case BuiltinOperator.RESHAPE:
        this.checkReshape(op);
        this.reshape(op);
        break;
      case BuiltinOperator.SOFTMAX:
        this.softmax(op, optionsOf(op, 'SoftmaxOptions'));
        break;
      default:
        throw unsupportedOperator(op);
    }
  }

  private convWeights(op: TfliteOperator, depthwise: boolean): ConvWeights {
    const [xIndex = -1, wIndex = -1] = op.inputs;
    const inC = this.tensor(xIndex).shape[3] ?? 0;
    const wt = this.tensor(wIndex);
    const [d0 = 0, kh = 0, kw = 0, d3 = 0] = wt.shape;
    if (wt.shape.length !== 4) {
      throw new Error(`${op.code.name} weights must be 4-D, got [${wt.shape}]`);
    }
    if (depthwise) {
      // [1,H,W,C*M] -> [C*M,1,H,W]; output channel c*M+m reads input channel c, as in a
      // grouped Conv with one group per input channel.
      if (d0 !== 1 || inC === 0 || d3 % inC !== 0) {
        throw new Error(`DEPTHWISE_CONV_2D weights [${wt.shape}] do not fit ${inC} input channels`);
      }
      return {
        tensor: wt,
        dims: [d3, 1, kh, kw],
        perm: [3, 0, 1, 2],
        group: inC,
        kernel: [kh, kw],
      };
    }
    if (d3 !== inC) {
      throw new Error(`CONV_2D weights [${wt.shape}] do not fit ${inC} input channels`);
    }
    return { tensor: wt, dims: [d0, d3, kh, kw], perm: TO_NCHW, group: 1, kernel: [kh, kw] };
  }

  private checkReshape(op: TfliteOperator): void {
    const [xIndex = -1] = op.inputs;
    const from = this.tensor(xIndex).shape;
    const to = this.outputTensor(op).shape;
    if (to.length === 0 || to[0] !== from[0]) {
      throw new Error(`Unsupported RESHAPE [${from}] -> [${to}]: it changes the batch dimension`);
    }
  }

  /** Conv / QLinearConv attributes of a TFLite convolution. */
  protected convAttributes(xIndex: number, o: ConvOptions, w: ConvWeights) {
    return {
      kernel_shape: w.kernel,
      strides: [o.strideH, o.strideW],
      dilations: [o.dilationH, o.dilationW],
      pads: onnxPads(
        this.tensor(xIndex).shape,
        o.padding,
        w.kernel,
        [o.strideH, o.strideW],
        [o.dilationH, o.dilationW],
      ),
      group: w.group,
    };
  }

  /** AveragePool attributes of a TFLite pool; TensorFlow averages the window's real pixels only. */
  protected poolAttributes(xIndex: number, o: OptionsOf<'Pool2DOptions'>) {
    const kernel: [number, number] = [o.filterHeight, o.filterWidth];
    return {
      kernel_shape: kernel,
      strides: [o.strideH, o.strideW],
      pads: onnxPads(this.tensor(xIndex).shape, o.padding, kernel, [o.strideH, o.strideW]),
      count_include_pad: 0,
    };
  }

  /** Reshape in TFLite's element order (NHWC); 0 keeps the batch dimension dynamic. */
  protected reshapeValue(op: TfliteOperator): string {
    const [xIndex = -1] = op.inputs;
    const from = this.tensor(xIndex).shape;
    const to = this.outputTensor(op).shape;
    let x = this.activation(xIndex);
    if (from.length === 4) x = this.g.node('Transpose', [x], { perm: TO_NHWC });
    let y = this.g.node('Reshape', [x, this.g.int64Const('shape', [0, ...to.slice(1)])]);
    if (to.length === 4) y = this.g.node('Transpose', [y], { perm: TO_NCHW });
    return y;
  }

  /** Channels are axis 1 of an NCHW activation, the last axis otherwise. */
  protected softmaxOf(x: string, op: TfliteOperator, beta: number, betaConst: () => string) {
    const [xIndex = -1] = op.inputs;
    const scaled = beta === 1 ? x : this.g.node('Mul', [x, betaConst()]);
    const axis = this.tensor(xIndex).shape.length === 4 ? 1 : -1;
    return this.g.node('Softmax', [scaled], { axis });
  }

  protected elements(t: TfliteTensor): Float32Array | Int32Array | Uint8Array | Int8Array {
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
        throw unsupportedType(t);
    }
  }

  protected activation(index: number): string {
    const value = this.values.get(index);
    if (value) return value;
    const t = this.tensor(index);
    throw new Error(`TFLite tensor "${t.name}" is used before an operator computes it`);
  }

  protected outputTensor(op: TfliteOperator): TfliteTensor {
    const [index, ...more] = op.outputs;
    if (index === undefined || more.length > 0) {
      throw new Error(`TFLite ${op.code.name} with ${op.outputs.length} outputs is not supported`);
    }
    return this.tensor(index);
  }

  /** Records `value` as the operator's output, of one of `allowed` TFLite types. */
  protected setOutput(op: TfliteOperator, value: string, allowed: readonly number[]): void {
    const t = this.outputTensor(op);
    if (!allowed.includes(t.type)) {
      throw new Error(
        `Unsupported TFLite tensor type ${tensorTypeName(t.type)} (output "${t.name}" of ${op.code.name})`,
      );
    }
    this.values.set(t.index, value);
  }

  protected tensor(index: number): TfliteTensor {
    const t = this.sg.tensors[index];
    if (!t) throw new Error(`TFLite operator refers to missing tensor ${index}`);
    return t;
  }
}

export function unsupportedType(t: TfliteTensor): Error {
  return new Error(`Unsupported TFLite tensor type ${tensorTypeName(t.type)} (tensor "${t.name}")`);
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
