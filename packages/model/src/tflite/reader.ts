import { ByteBuffer } from 'flatbuffers';
import { FbTable } from './flatbuffer.js';
import {
  ACTIVATION_NAMES,
  type Activation,
  BuiltinOperator,
  BuiltinOptionsType,
  builtinOperatorName,
  Field,
  PADDING_NAMES,
  type Padding,
  TFLITE_FILE_IDENTIFIER,
} from './schema.js';

export interface TfliteQuantization {
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  /** TensorType enum value. */
  type: number;
  buffer: number;
  quantization: TfliteQuantization | undefined;
  sparse: boolean;
}

export type TfliteOptions =
  | {
      kind: 'Conv2DOptions';
      padding: Padding;
      strideW: number;
      strideH: number;
      fusedActivation: Activation;
      dilationW: number;
      dilationH: number;
    }
  | {
      kind: 'DepthwiseConv2DOptions';
      padding: Padding;
      strideW: number;
      strideH: number;
      depthMultiplier: number;
      fusedActivation: Activation;
      dilationW: number;
      dilationH: number;
    }
  | {
      kind: 'Pool2DOptions';
      padding: Padding;
      strideW: number;
      strideH: number;
      filterWidth: number;
      filterHeight: number;
      fusedActivation: Activation;
    }
  | { kind: 'SoftmaxOptions'; beta: number }
  | { kind: 'AddOptions'; fusedActivation: Activation }
  | { kind: 'ReshapeOptions'; newShape: number[] | undefined }
  | { kind: 'none' }
  /** A union member this reader does not decode. */
  | { kind: 'other'; unionType: number };

export interface TfliteOperatorCode {
  /** max(deprecated_builtin_code, builtin_code), as TFLite itself reads it. */
  builtinCode: number;
  name: string;
  customCode: string | undefined;
  version: number;
}

export interface TfliteOperator {
  opcodeIndex: number;
  code: TfliteOperatorCode;
  /** Tensor indexes; -1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
  options: TfliteOptions;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteModel {
  version: number;
  description: string;
  operatorCodes: TfliteOperatorCode[];
  subgraphs: TfliteSubgraph[];
  /** Raw little-endian bytes of each buffer; index 0 is the empty sentinel. */
  buffers: Uint8Array[];
}

function enumName<T extends string>(names: readonly T[], value: number, what: string): T {
  const name = names[value];
  if (name === undefined) throw new Error(`Unknown TFLite ${what} value ${value}`);
  return name;
}

function readOptions(type: number, t: FbTable | undefined): TfliteOptions {
  if (type === 0 || t === undefined) return { kind: 'none' };
  const padding = (slot: number) => enumName(PADDING_NAMES, t.int8(slot), 'padding');
  const activation = (slot: number) => enumName(ACTIVATION_NAMES, t.int8(slot), 'fused activation');
  switch (type) {
    case BuiltinOptionsType.Conv2DOptions: {
      const f = Field.Conv2DOptions;
      return {
        kind: 'Conv2DOptions',
        padding: padding(f.padding),
        strideW: t.int32(f.strideW),
        strideH: t.int32(f.strideH),
        fusedActivation: activation(f.fusedActivation),
        dilationW: t.int32(f.dilationW, 1),
        dilationH: t.int32(f.dilationH, 1),
      };
    }
    case BuiltinOptionsType.DepthwiseConv2DOptions: {
      const f = Field.DepthwiseConv2DOptions;
      return {
        kind: 'DepthwiseConv2DOptions',
        padding: padding(f.padding),
        strideW: t.int32(f.strideW),
        strideH: t.int32(f.strideH),
        depthMultiplier: t.int32(f.depthMultiplier),
        fusedActivation: activation(f.fusedActivation),
        dilationW: t.int32(f.dilationW, 1),
        dilationH: t.int32(f.dilationH, 1),
      };
    }
    case BuiltinOptionsType.Pool2DOptions: {
      const f = Field.Pool2DOptions;
      return {
        kind: 'Pool2DOptions',
        padding: padding(f.padding),
        strideW: t.int32(f.strideW),
        strideH: t.int32(f.strideH),
        filterWidth: t.int32(f.filterWidth),
        filterHeight: t.int32(f.filterHeight),
        fusedActivation: activation(f.fusedActivation),
      };
    }
    case BuiltinOptionsType.SoftmaxOptions:
      return { kind: 'SoftmaxOptions', beta: t.float32(Field.SoftmaxOptions.beta) };
    case BuiltinOptionsType.AddOptions:
      return {
        kind: 'AddOptions',
        fusedActivation: activation(Field.AddOptions.fusedActivation),
      };
    case BuiltinOptionsType.ReshapeOptions:
      return { kind: 'ReshapeOptions', newShape: t.int32s(Field.ReshapeOptions.newShape) };
    default:
      return { kind: 'other', unionType: type };
  }
}

function readQuantization(t: FbTable | undefined): TfliteQuantization | undefined {
  if (!t) return undefined;
  const f = Field.Quantization;
  if (t.uint8(f.detailsType) !== 0) throw new Error('Unsupported TFLite custom quantization');
  const scale = t.float32s(f.scale);
  if (scale.length === 0) return undefined;
  const zeroPoint = t.int64s(f.zeroPoint);
  return {
    scale,
    zeroPoint: zeroPoint.length > 0 ? zeroPoint : scale.map(() => 0),
    quantizedDimension: t.int32(f.quantizedDimension),
  };
}

function readTensor(t: FbTable, index: number): TfliteTensor {
  const f = Field.Tensor;
  return {
    index,
    name: t.string(f.name) ?? `tensor_${index}`,
    shape: t.int32s(f.shape) ?? [],
    type: t.int8(f.type),
    buffer: t.uint32(f.buffer),
    quantization: readQuantization(t.table(f.quantization)),
    sparse: t.has(f.sparsity),
  };
}

function readOperatorCode(t: FbTable): TfliteOperatorCode {
  const f = Field.OperatorCode;
  const builtinCode = Math.max(t.int8(f.deprecatedBuiltinCode), t.int32(f.builtinCode));
  return {
    builtinCode,
    name: builtinOperatorName(builtinCode),
    customCode: builtinCode === BuiltinOperator.CUSTOM ? t.string(f.customCode) : undefined,
    version: t.int32(f.version, 1),
  };
}

/** Parses a .tflite flatbuffer. Buffers are views into `bytes`, not copies. */
export function readTfliteModel(bytes: Uint8Array): TfliteModel {
  const bb = new ByteBuffer(bytes);
  if (bytes.length < 8 || !bb.__has_identifier(TFLITE_FILE_IDENTIFIER)) {
    throw new Error(`Not a TFLite model (no "${TFLITE_FILE_IDENTIFIER}" file identifier)`);
  }
  const model = new FbTable(bb, bb.readInt32(bb.position()) + bb.position());
  const m = Field.Model;
  const operatorCodes = model.tables(m.operatorCodes).map(readOperatorCode);

  const subgraphs = model.tables(m.subgraphs).map((sg): TfliteSubgraph => {
    const s = Field.SubGraph;
    const o = Field.Operator;
    return {
      name: sg.string(s.name) ?? '',
      tensors: sg.tables(s.tensors).map(readTensor),
      inputs: sg.int32s(s.inputs) ?? [],
      outputs: sg.int32s(s.outputs) ?? [],
      operators: sg.tables(s.operators).map((op): TfliteOperator => {
        const opcodeIndex = op.uint32(o.opcodeIndex);
        const code = operatorCodes[opcodeIndex];
        if (!code) throw new Error(`TFLite operator refers to missing opcode ${opcodeIndex}`);
        return {
          opcodeIndex,
          code,
          inputs: op.int32s(o.inputs) ?? [],
          outputs: op.int32s(o.outputs) ?? [],
          options: readOptions(op.uint8(o.builtinOptionsType), op.table(o.builtinOptions)),
        };
      }),
    };
  });

  const buffers = model.tables(m.buffers).map((b) => {
    const f = Field.Buffer;
    // Models over 2 GB keep buffers after the flatbuffer; offset is from the file start.
    const offset = b.uint64(f.offset);
    if (offset > 1) return bytes.subarray(offset, offset + b.uint64(f.size));
    return b.bytes(f.data);
  });

  return {
    version: model.uint32(m.version),
    description: model.string(m.description) ?? '',
    operatorCodes,
    subgraphs,
    buffers,
  };
}
