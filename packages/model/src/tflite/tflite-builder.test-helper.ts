import { Builder } from 'flatbuffers';
import type { TfliteOptions, TfliteQuantization } from './reader.js';
import {
  ACTIVATION_NAMES,
  BuiltinOptionsType,
  Field,
  PADDING_NAMES,
  TensorType,
  TFLITE_FILE_IDENTIFIER,
} from './schema.js';

// Writes small .tflite flatbuffers for tests, slot by slot, like generated code would.

export interface TensorSpec {
  name?: string;
  shape: number[];
  type: keyof typeof TensorType;
  /** Constant values, encoded as `type`. */
  data?: number[];
  quantization?: { readonly [K in keyof TfliteQuantization]?: Readonly<TfliteQuantization[K]> } & {
    readonly scale: readonly number[];
  };
}

export interface OperatorSpec {
  builtinCode: number;
  customCode?: string;
  inputs: number[];
  outputs: number[];
  options?: Exclude<TfliteOptions, { kind: 'none' | 'other' }>;
}

export interface ModelSpec {
  tensors: TensorSpec[];
  operators: OperatorSpec[];
  inputs: number[];
  outputs: number[];
  /** Write codes >= 127 the modern way: deprecated_builtin_code = 127, builtin_code = code. */
  extendedCodes?: boolean;
}

const PLACEHOLDER_FOR_GREATER_OP_CODES = 127;

function encode(type: TensorSpec['type'], values: number[]): Uint8Array {
  switch (type) {
    case 'FLOAT32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'INT32':
      return new Uint8Array(Int32Array.from(values).buffer);
    case 'INT64':
      return new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
    case 'UINT8':
      return Uint8Array.from(values);
    case 'INT8':
      return new Uint8Array(Int8Array.from(values).buffer);
  }
}

function int32Vector(b: Builder, values: number[]): number {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i] ?? 0);
  return b.endVector();
}

function offsetVector(b: Builder, offsets: number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i] ?? 0);
  return b.endVector();
}

function writeOptions(b: Builder, o: NonNullable<OperatorSpec['options']>): number {
  const padding = (p: string) => PADDING_NAMES.indexOf(p as never);
  const act = (a: string) => ACTIVATION_NAMES.indexOf(a as never);
  switch (o.kind) {
    case 'Conv2DOptions': {
      const f = Field.Conv2DOptions;
      b.startObject(7);
      b.addFieldInt8(f.padding, padding(o.padding), 0);
      b.addFieldInt32(f.strideW, o.strideW, 0);
      b.addFieldInt32(f.strideH, o.strideH, 0);
      b.addFieldInt8(f.fusedActivation, act(o.fusedActivation), 0);
      b.addFieldInt32(f.dilationW, o.dilationW, 1);
      b.addFieldInt32(f.dilationH, o.dilationH, 1);
      return b.endObject();
    }
    case 'DepthwiseConv2DOptions': {
      const f = Field.DepthwiseConv2DOptions;
      b.startObject(7);
      b.addFieldInt8(f.padding, padding(o.padding), 0);
      b.addFieldInt32(f.strideW, o.strideW, 0);
      b.addFieldInt32(f.strideH, o.strideH, 0);
      b.addFieldInt32(f.depthMultiplier, o.depthMultiplier, 0);
      b.addFieldInt8(f.fusedActivation, act(o.fusedActivation), 0);
      b.addFieldInt32(f.dilationW, o.dilationW, 1);
      b.addFieldInt32(f.dilationH, o.dilationH, 1);
      return b.endObject();
    }
    case 'Pool2DOptions': {
      const f = Field.Pool2DOptions;
      b.startObject(6);
      b.addFieldInt8(f.padding, padding(o.padding), 0);
      b.addFieldInt32(f.strideW, o.strideW, 0);
      b.addFieldInt32(f.strideH, o.strideH, 0);
      b.addFieldInt32(f.filterWidth, o.filterWidth, 0);
      b.addFieldInt32(f.filterHeight, o.filterHeight, 0);
      b.addFieldInt8(f.fusedActivation, act(o.fusedActivation), 0);
      return b.endObject();
    }
    case 'SoftmaxOptions':
      b.startObject(1);
      b.addFieldFloat32(Field.SoftmaxOptions.beta, o.beta, 0);
      return b.endObject();
    case 'AddOptions':
      b.startObject(2);
      b.addFieldInt8(Field.AddOptions.fusedActivation, act(o.fusedActivation), 0);
      return b.endObject();
    case 'ReshapeOptions': {
      const shape = o.newShape ? int32Vector(b, o.newShape) : 0;
      b.startObject(1);
      if (shape) b.addFieldOffset(Field.ReshapeOptions.newShape, shape, 0);
      return b.endObject();
    }
  }
}

function writeQuantization(b: Builder, q: NonNullable<TensorSpec['quantization']>): number {
  const f = Field.Quantization;
  b.startVector(4, q.scale.length, 4);
  for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i] ?? 0);
  const scale = b.endVector();
  const zeroPoints = q.zeroPoint ?? q.scale.map(() => 0);
  b.startVector(8, zeroPoints.length, 8);
  for (let i = zeroPoints.length - 1; i >= 0; i--) b.addInt64(BigInt(zeroPoints[i] ?? 0));
  const zeroPoint = b.endVector();
  b.startObject(7);
  b.addFieldOffset(f.scale, scale, 0);
  b.addFieldOffset(f.zeroPoint, zeroPoint, 0);
  b.addFieldInt32(f.quantizedDimension, q.quantizedDimension ?? 0, 0);
  return b.endObject();
}

/** A one-subgraph .tflite model; each constant tensor gets its own buffer. */
export function buildTfliteModel(spec: ModelSpec): Uint8Array {
  const b = new Builder(1024);

  const bufferOffsets: number[] = [];
  const emptyBuffer = () => {
    b.startObject(3);
    return b.endObject();
  };
  bufferOffsets.push(emptyBuffer());
  const tensorBuffer = spec.tensors.map((t) => {
    if (!t.data) return 0;
    const bytes = encode(t.type, t.data);
    b.startVector(1, bytes.length, 16);
    for (let i = bytes.length - 1; i >= 0; i--) b.addInt8(bytes[i] ?? 0);
    const data = b.endVector();
    b.startObject(3);
    b.addFieldOffset(Field.Buffer.data, data, 0);
    bufferOffsets.push(b.endObject());
    return bufferOffsets.length - 1;
  });

  const tensors = spec.tensors.map((t, i) => {
    const f = Field.Tensor;
    const shape = int32Vector(b, t.shape);
    const name = b.createString(t.name ?? `t${i}`);
    const quantization = t.quantization ? writeQuantization(b, t.quantization) : 0;
    b.startObject(8);
    b.addFieldOffset(f.shape, shape, 0);
    b.addFieldInt8(f.type, TensorType[t.type], 0);
    b.addFieldInt32(f.buffer, tensorBuffer[i] ?? 0, 0);
    b.addFieldOffset(f.name, name, 0);
    if (quantization) b.addFieldOffset(f.quantization, quantization, 0);
    return b.endObject();
  });

  const codes: { builtinCode: number; customCode?: string }[] = [];
  const operators = spec.operators.map((op) => {
    const f = Field.Operator;
    let opcodeIndex = codes.findIndex(
      (c) => c.builtinCode === op.builtinCode && c.customCode === op.customCode,
    );
    if (opcodeIndex < 0) opcodeIndex = codes.push(op) - 1;
    const inputs = int32Vector(b, op.inputs);
    const outputs = int32Vector(b, op.outputs);
    const options = op.options ? writeOptions(b, op.options) : 0;
    b.startObject(5);
    b.addFieldInt32(f.opcodeIndex, opcodeIndex, 0);
    b.addFieldOffset(f.inputs, inputs, 0);
    b.addFieldOffset(f.outputs, outputs, 0);
    if (op.options) {
      b.addFieldInt8(f.builtinOptionsType, BuiltinOptionsType[op.options.kind], 0);
      b.addFieldOffset(f.builtinOptions, options, 0);
    }
    return b.endObject();
  });

  const operatorCodes = codes.map((c) => {
    const f = Field.OperatorCode;
    const customCode = c.customCode ? b.createString(c.customCode) : 0;
    const deprecated = spec.extendedCodes
      ? Math.min(c.builtinCode, PLACEHOLDER_FOR_GREATER_OP_CODES)
      : c.builtinCode;
    b.startObject(4);
    b.addFieldInt8(f.deprecatedBuiltinCode, deprecated, 0);
    if (customCode) b.addFieldOffset(f.customCode, customCode, 0);
    b.addFieldInt32(f.version, 1, 1);
    if (spec.extendedCodes) b.addFieldInt32(f.builtinCode, c.builtinCode, 0);
    return b.endObject();
  });

  const s = Field.SubGraph;
  const tensorsVec = offsetVector(b, tensors);
  const inputsVec = int32Vector(b, spec.inputs);
  const outputsVec = int32Vector(b, spec.outputs);
  const operatorsVec = offsetVector(b, operators);
  const subgraphName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(s.tensors, tensorsVec, 0);
  b.addFieldOffset(s.inputs, inputsVec, 0);
  b.addFieldOffset(s.outputs, outputsVec, 0);
  b.addFieldOffset(s.operators, operatorsVec, 0);
  b.addFieldOffset(s.name, subgraphName, 0);
  const subgraph = b.endObject();

  const m = Field.Model;
  const codesVec = offsetVector(b, operatorCodes);
  const subgraphsVec = offsetVector(b, [subgraph]);
  const description = b.createString('hand-made test model');
  const buffersVec = offsetVector(b, bufferOffsets);
  b.startObject(5);
  b.addFieldInt32(m.version, 3, 0);
  b.addFieldOffset(m.operatorCodes, codesVec, 0);
  b.addFieldOffset(m.subgraphs, subgraphsVec, 0);
  b.addFieldOffset(m.description, description, 0);
  b.addFieldOffset(m.buffers, buffersVec, 0);
  b.finish(b.endObject(), TFLITE_FILE_IDENTIFIER);
  return b.asUint8Array();
}
