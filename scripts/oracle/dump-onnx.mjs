// Dumps, for each test image and each of its harder variants (hard-images.mjs), our
// preprocessed 224x224 RGB bytes and each precision's converted ONNX model's probabilities,
// for compare.py to check against the original .tflite.
// usage: node scripts/oracle/dump-onnx.mjs <out-dir> <images-dir>

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { modelInput, prepareModel } from '../../packages/model/dist/index.js';
import {
  detectFormat,
  loadConfig,
  MODEL_PRECISIONS,
  MODEL_SPEC,
  toModelInput,
} from '../../packages/shared/dist/index.js';
import { hardVariants } from './hard-images.mjs';

const require = createRequire(new URL('../../packages/model/package.json', import.meta.url));
const ort = require('onnxruntime-node');

const [outDir, imagesDir] = process.argv.slice(2).map((p) => resolve(p));
if (!outDir || !imagesDir) {
  console.error('usage: node scripts/oracle/dump-onnx.mjs <out-dir> <images-dir>');
  process.exit(2);
}

const config = loadConfig();
const sessions = [];
let labels = [];
for (const precision of MODEL_PRECISIONS) {
  const model = await prepareModel({
    ...config.model,
    precision,
    log: (message) => console.error(message),
  });
  labels = model.labels;
  sessions.push({
    precision,
    onnxPath: model.onnxPath,
    session: await ort.InferenceSession.create(model.onnxPath),
  });
}
await mkdir(outDir, { recursive: true });

const size = MODEL_SPEC.inputSize;
const images = [];
async function dump(file, bytes) {
  const pixels = await toModelInput(bytes);
  await writeFile(join(outDir, `${file}.rgb`), pixels);
  const probabilities = {};
  for (const { precision, session } of sessions) {
    const [, , , channels] = session.inputMetadata[0].shape;
    const input = new ort.Tensor('uint8', modelInput([pixels], pixels.length, channels), [
      1,
      size,
      size,
      channels,
    ]);
    const probs = (await session.run({ input })).probabilities.data;
    probabilities[precision] = `${file}.${precision}.f32`;
    await writeFile(
      join(outDir, probabilities[precision]),
      new Uint8Array(probs.buffer, probs.byteOffset, probs.byteLength),
    );
  }
  images.push({ file, pixels: `${file}.rgb`, probabilities });
  return pixels;
}
// Two files of one picture (cat.png, cat.bmp) get one set of variants.
const varied = new Set();
for (const file of (await readdir(imagesDir)).sort()) {
  const bytes = await readFile(join(imagesDir, file));
  if (!detectFormat(bytes)) continue;
  const digest = createHash('sha256')
    .update(await dump(file, bytes))
    .digest('hex');
  const variants = await hardVariants(file, bytes);
  if (!variants || varied.has(digest)) continue;
  varied.add(digest);
  for (const [name, variant] of variants) await dump(name, variant);
}
for (const { session } of sessions) await session.release();

const tflitePath = resolve(config.model.dir, MODEL_SPEC.source.file);
const manifest = {
  tflite: tflitePath,
  inputSize: size,
  classes: labels.length,
  precisions: sessions.map((s) => s.precision),
  onnx: Object.fromEntries(sessions.map((s) => [s.precision, s.onnxPath])),
  images,
};
await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
console.error(`dumped ${images.length} images, ${sessions.length} precisions, to ${outDir}`);
