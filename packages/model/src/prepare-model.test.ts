import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_SPEC } from '@imagerec/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertTfliteToOnnx, readOnnxSourceSha256 } from './importer.js';
import { prepareModel } from './prepare-model.js';
import { BuiltinOperator } from './tflite/schema.js';
import { buildTfliteModel } from './tflite/tflite-builder.test-helper.js';

const sharedMirror = fileURLToPath(new URL('../../../../shared/models', import.meta.url));

describe.skipIf(!existsSync(sharedMirror))('prepareModel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prepare-model-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('converts once, then reuses the conversion of the same source', async () => {
    const first = await prepareModel({ dir, mirrorDir: sharedMirror });
    expect(first.sourceSha256).toBe(MODEL_SPEC.source.sha256);
    expect(first.labels).toHaveLength(1001);
    expect(first.labels[0]).toBe('background');
    expect(first.labels[286]).toBe('Egyptian cat');
    expect(readOnnxSourceSha256(await readFile(first.onnxPath))).toBe(MODEL_SPEC.source.sha256);

    const log: string[] = [];
    await prepareModel({ dir, mirrorDir: sharedMirror, log: (m) => log.push(m) });
    expect(log).toContain(`${MODEL_SPEC.onnxFile}: present, converted from the pinned source`);
  });

  it('converts again when the ONNX file came from another source', async () => {
    const other = buildTfliteModel({
      tensors: [
        { shape: [1, 2, 2, 1], type: 'UINT8', quantization: { scale: [1], zeroPoint: [0] } },
        { shape: [1, 4], type: 'FLOAT32' },
        { shape: [1, 4], type: 'FLOAT32' },
      ],
      operators: [
        { builtinCode: BuiltinOperator.RESHAPE, inputs: [0], outputs: [1] },
        {
          builtinCode: BuiltinOperator.SOFTMAX,
          inputs: [1],
          outputs: [2],
          options: { kind: 'SoftmaxOptions', beta: 1 },
        },
      ],
      inputs: [0],
      outputs: [2],
    });
    const onnxPath = join(dir, MODEL_SPEC.onnxFile);
    await writeFile(onnxPath, convertTfliteToOnnx(other));
    const log: string[] = [];
    await prepareModel({ dir, mirrorDir: sharedMirror, log: (m) => log.push(m) });
    expect(log.at(-1)).toMatch(/was converted from [0-9a-f]{12}, converted/);
    expect(readOnnxSourceSha256(await readFile(onnxPath))).toBe(MODEL_SPEC.source.sha256);
  });

  it('converts again when the ONNX file is unreadable', async () => {
    const onnxPath = join(dir, MODEL_SPEC.onnxFile);
    await writeFile(onnxPath, 'garbage');
    await prepareModel({ dir, mirrorDir: sharedMirror });
    expect(readOnnxSourceSha256(await readFile(onnxPath))).toBe(MODEL_SPEC.source.sha256);
  });
});
