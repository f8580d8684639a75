import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_SPEC } from '@imagerec/shared';
import { convertTfliteToOnnx, readOnnxSourceSha256 } from './importer.js';
import { ensureModelFiles, type ModelStoreOptions, writeFileAtomic } from './model-store.js';

export interface PreparedModel {
  onnxPath: string;
  labelsPath: string;
  /** One per class; index 0 is 'background'. */
  labels: string[];
  /** SHA-256 of the .tflite the ONNX model was converted from. */
  sourceSha256: string;
}

async function convertedFrom(onnxPath: string): Promise<string | undefined> {
  try {
    return readOnnxSourceSha256(await readFile(onnxPath));
  } catch {
    // Missing or unreadable: convert again.
    return undefined;
  }
}

/** Ensures the pinned files and an ONNX conversion of exactly that .tflite. */
export async function prepareModel(opts: ModelStoreOptions): Promise<PreparedModel> {
  const log = opts.log ?? (() => {});
  const { sourcePath, labelsPath } = await ensureModelFiles(opts);
  const sourceSha256 = MODEL_SPEC.source.sha256;
  const onnxPath = join(opts.dir, MODEL_SPEC.onnxFile);

  const existing = await convertedFrom(onnxPath);
  if (existing === sourceSha256) {
    log(`${MODEL_SPEC.onnxFile}: present, converted from the pinned source`);
  } else {
    const started = performance.now();
    const onnxBytes = convertTfliteToOnnx(await readFile(sourcePath));
    await writeFileAtomic(onnxPath, onnxBytes);
    const ms = Math.round(performance.now() - started);
    const why = existing ? `was converted from ${existing.slice(0, 12)}` : 'missing';
    log(`${MODEL_SPEC.onnxFile}: ${why}, converted (${onnxBytes.length} bytes, ${ms} ms)`);
  }

  const text = await readFile(labelsPath, 'utf8');
  const labels = text.split(/\r?\n/);
  if (labels.at(-1) === '') labels.pop();
  return { onnxPath, labelsPath, labels, sourceSha256 };
}
