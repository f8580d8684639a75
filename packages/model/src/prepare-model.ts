import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_SPEC, type ModelPrecision } from '@imagerec/shared';
import { convertTfliteToOnnx, readOnnxProvenance } from './importer.js';
import { ensureModelFiles, type ModelStoreOptions, writeFileAtomic } from './model-store.js';

export interface PrepareModelOptions extends ModelStoreOptions {
  precision: ModelPrecision;
}

export interface PreparedModel {
  onnxPath: string;
  labelsPath: string;
  /** One per class; index 0 is 'background'. */
  labels: string[];
  /** SHA-256 of the .tflite the ONNX model was converted from. */
  sourceSha256: string;
  precision: ModelPrecision;
}

async function provenance(onnxPath: string) {
  try {
    return readOnnxProvenance(await readFile(onnxPath));
  } catch {
    // Missing or unreadable: convert again.
    return undefined;
  }
}

/** Ensures the pinned files and an ONNX conversion of exactly that .tflite, in `precision`. */
export async function prepareModel(opts: PrepareModelOptions): Promise<PreparedModel> {
  const log = opts.log ?? (() => {});
  const { precision } = opts;
  const { sourcePath, labelsPath } = await ensureModelFiles(opts);
  const sourceSha256 = MODEL_SPEC.source.sha256;
  const file = MODEL_SPEC.onnxFiles[precision];
  const onnxPath = join(opts.dir, file);

  const existing = await provenance(onnxPath);
  if (existing?.sourceSha256 === sourceSha256 && existing.precision === precision) {
    log(`${file}: present, converted from the pinned source`);
  } else {
    const started = performance.now();
    const onnxBytes = convertTfliteToOnnx(await readFile(sourcePath), precision);
    await writeFileAtomic(onnxPath, onnxBytes);
    const ms = Math.round(performance.now() - started);
    const why = !existing
      ? 'missing'
      : existing.sourceSha256 !== sourceSha256
        ? `was converted from ${existing.sourceSha256?.slice(0, 12) ?? 'an unknown source'}`
        : `was converted to ${existing.precision ?? 'an unknown precision'}`;
    log(`${file}: ${why}, converted to ${precision} (${onnxBytes.length} bytes, ${ms} ms)`);
  }

  const text = await readFile(labelsPath, 'utf8');
  const labels = text.split(/\r?\n/);
  if (labels.at(-1) === '') labels.pop();
  return { onnxPath, labelsPath, labels, sourceSha256, precision };
}
