import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** The converter's compiled modules: this package's dist/, the CLI left out. */
const CONVERTER_MODULE = /^(?!cli\/).*(?<!\.test)\.js$/;

/**
 * SHA-256 over the converter's compiled code. A model file converted by other code (an earlier
 * importer) is converted again rather than served stale: the pinned source alone cannot tell.
 * Always the build's files, also when this runs from the sources (tests), so that the two
 * agree; `scripts/setup` builds before it converts.
 */
async function converterSha256(): Promise<string> {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
  const files = (await readdir(dist, { recursive: true }))
    .filter((f) => CONVERTER_MODULE.test(f))
    .sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update(await readFile(join(dist, f)));
  return hash.digest('hex');
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
  const converter = await converterSha256();
  if (
    existing?.sourceSha256 === sourceSha256 &&
    existing.precision === precision &&
    existing.converterSha256 === converter
  ) {
    log(`${file}: present, converted from the pinned source`);
  } else {
    const started = performance.now();
    const onnxBytes = convertTfliteToOnnx(await readFile(sourcePath), precision, converter);
    await writeFileAtomic(onnxPath, onnxBytes);
    const ms = Math.round(performance.now() - started);
    const why = !existing
      ? 'missing'
      : existing.sourceSha256 !== sourceSha256
        ? `was converted from ${existing.sourceSha256?.slice(0, 12) ?? 'an unknown source'}`
        : existing.precision !== precision
          ? `was converted to ${existing.precision ?? 'an unknown precision'}`
          : 'was converted by other code';
    log(`${file}: ${why}, converted to ${precision} (${onnxBytes.length} bytes, ${ms} ms)`);
  }

  const text = await readFile(labelsPath, 'utf8');
  const labels = text.split(/\r?\n/);
  if (labels.at(-1) === '') labels.pop();
  return { onnxPath, labelsPath, labels, sourceSha256, precision };
}
