import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
type Onnx = typeof onnx;
export type NodeProto = InstanceType<Onnx['NodeProto']>;
export type TensorProto = InstanceType<Onnx['TensorProto']>;
export type AttributeValue = number | number[];

const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

/** Integer attributes are all the importer needs. */
function attribute(name: string, value: AttributeValue) {
  return Array.isArray(value)
    ? { name, type: AttributeType.INTS, ints: value }
    : { name, type: AttributeType.INT, i: value };
}

/** Collects nodes and initializers of one ONNX graph, handing out unique value names. */
export class OnnxGraph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX value name ${name} is already taken`);
    this.used.add(name);
    return name;
  }

  floatConst(base: string, dims: number[], values: Float32Array | number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.initializer(
      base,
      dims,
      DataType.FLOAT,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  uint8Const(base: string, dims: number[], values: Uint8Array | number[]): string {
    const data = values instanceof Uint8Array ? values : Uint8Array.from(values);
    return this.initializer(base, dims, DataType.UINT8, data);
  }

  int8Const(base: string, dims: number[], values: Int8Array | number[]): string {
    const data = values instanceof Int8Array ? values : Int8Array.from(values);
    return this.initializer(
      base,
      dims,
      DataType.INT8,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  int32Const(base: string, dims: number[], values: Int32Array): string {
    return this.initializer(
      base,
      dims,
      DataType.INT32,
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
  }

  int64Const(base: string, values: number[], dims = [values.length]): string {
    const data = BigInt64Array.from(values.map(BigInt));
    return this.initializer(base, dims, DataType.INT64, new Uint8Array(data.buffer));
  }

  /** Adds a node and returns its (single) output name. */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttributeValue> = {},
    output = this.unique(opType.toLowerCase()),
    domain = '',
  ): string {
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        domain,
        name: this.unique(`${opType}_node`),
        input: inputs,
        output: [output],
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return output;
  }

  private initializer(base: string, dims: number[], dataType: number, rawData: Uint8Array): string {
    const name = this.unique(base);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType, rawData }));
    return name;
  }
}
