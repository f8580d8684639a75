import { createHash } from 'node:crypto';
import type { ModelPrecision } from '@imagerec/shared';
import { FixedPointImporter } from './fixed-point-importer.js';
import { FloatImporter } from './float-importer.js';
import type { GraphImporter } from './graph-importer.js';
import { onnx } from './onnx-graph.js';
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from './onnx-layout.js';
import { MS_DOMAIN, type QuantizedForm, QuantizedImporter } from './quantized-importer.js';
import { readTfliteModel, type TfliteModel, type TfliteSubgraph } from './tflite/reader.js';

export { dequantize } from './float-importer.js';
export { permute, tfPadding } from './onnx-layout.js';
export { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME };

/** metadata_props key holding the SHA-256 of the .tflite the model was converted from. */
export const SOURCE_SHA256_KEY = 'source_sha256';
/** metadata_props key holding the precision the model was converted to. */
export const PRECISION_KEY = 'precision';
/** metadata_props key holding the SHA-256 of the converter's own code (see prepare-model.ts). */
export const CONVERTER_SHA256_KEY = 'converter_sha256';

const OPSET_VERSION = 13;

/** The int8 graph's form of each integer precision. */
const QUANTIZED_FORMS: Record<Exclude<ModelPrecision, 'fp32'>, QuantizedForm> = {
  int8: 'tflite-weights',
  'int8-fast': 'symmetric-weights',
  'int8-exact': 'fixed-point',
};
const IR_VERSION = 8;

/**
 * Converts a TFLite MobileNet-style classifier into ONNX (opset 13), in float or in TFLite's
 * own integer quantization. Contract: one uint8 input `input` [N,H,W,C] and one float output
 * `probabilities`, whatever the precision.
 */
export function convertTfliteToOnnx(
  tflite: Uint8Array,
  precision: ModelPrecision = 'fp32',
  converterSha256?: string,
): Uint8Array {
  const model = readTfliteModel(tflite);
  const [subgraph] = model.subgraphs;
  if (!subgraph) throw new Error('TFLite model has no subgraph');
  const quantized = precision !== 'fp32';
  const graph = importerFor(model, subgraph, precision).build();
  const sourceSha256 = createHash('sha256').update(tflite).digest('hex');
  const opsetImport = [{ domain: '', version: OPSET_VERSION }];
  if (quantized) opsetImport.push({ domain: MS_DOMAIN, version: 1 });
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: '@imagerec/model',
    opsetImport,
    docString: model.description,
    metadataProps: [
      { key: SOURCE_SHA256_KEY, value: sourceSha256 },
      { key: PRECISION_KEY, value: precision },
      ...(converterSha256 ? [{ key: CONVERTER_SHA256_KEY, value: converterSha256 }] : []),
    ],
    graph: { name: subgraph.name || 'tflite', ...graph },
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The float graph, or the int8 graph in the precision's form. */
function importerFor(
  model: TfliteModel,
  subgraph: TfliteSubgraph,
  precision: ModelPrecision,
): GraphImporter {
  if (precision === 'fp32') return new FloatImporter(model, subgraph);
  const form = QUANTIZED_FORMS[precision];
  return form === 'fixed-point'
    ? new FixedPointImporter(model, subgraph)
    : new QuantizedImporter(model, subgraph, form);
}

/** What a converted model says it was converted from, to, and by. */
export function readOnnxProvenance(onnxBytes: Uint8Array): {
  sourceSha256: string | undefined;
  precision: string | undefined;
  converterSha256: string | undefined;
} {
  const proto = onnx.ModelProto.decode(onnxBytes);
  const meta = (key: string) => proto.metadataProps.find((p) => p.key === key)?.value ?? undefined;
  return {
    sourceSha256: meta(SOURCE_SHA256_KEY),
    precision: meta(PRECISION_KEY),
    converterSha256: meta(CONVERTER_SHA256_KEY),
  };
}
