import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_PRECISIONS, MODEL_SPEC, type ModelPrecision } from '@imagerec/shared';
import { SHARED_MODELS_DIR as sharedMirror } from '@imagerec/test-support/shared-files';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertTfliteToOnnx, readOnnxProvenance } from './importer.js';
import { prepareModel } from './prepare-model.js';
import { BuiltinOperator } from './tflite/schema.js';
import { buildTfliteModel } from './tflite/tflite-builder.test-helper.js';

describe.skipIf(!existsSync(sharedMirror))('prepareModel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prepare-model-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  /** What prepareModel said last, preparing `precision` in `dir`. */
  const lastLine = async (precision: ModelPrecision) => {
    const log: string[] = [];
    await prepareModel({ dir, mirrorDir: sharedMirror, precision, log: (m) => log.push(m) });
    return log.at(-1);
  };

  it('converts once per precision, each to its own file, then reuses them', async () => {
    const int8 = await prepareModel({ dir, mirrorDir: sharedMirror, precision: 'int8' });
    expect(int8.sourceSha256).toBe(MODEL_SPEC.source.sha256);
    expect(int8.labels).toHaveLength(1001);
    expect(int8.labels[0]).toBe('background');
    expect(int8.labels[286]).toBe('Egyptian cat');
    expect(readOnnxProvenance(await readFile(int8.onnxPath))).toEqual({
      sourceSha256: MODEL_SPEC.source.sha256,
      precision: 'int8',
      converterSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    const fp32 = await prepareModel({ dir, mirrorDir: sharedMirror, precision: 'fp32' });
    expect(fp32.onnxPath).not.toBe(int8.onnxPath);
    expect(readOnnxProvenance(await readFile(fp32.onnxPath)).precision).toBe('fp32');
    expect(readOnnxProvenance(await readFile(int8.onnxPath)).precision).toBe('int8');
    for (const precision of ['int8-fast', 'int8-exact'] as const) {
      const other = await prepareModel({ dir, mirrorDir: sharedMirror, precision });
      expect(other.onnxPath).not.toBe(int8.onnxPath);
      expect(readOnnxProvenance(await readFile(other.onnxPath)).precision).toBe(precision);
    }

    for (const precision of MODEL_PRECISIONS) {
      const log: string[] = [];
      await prepareModel({ dir, mirrorDir: sharedMirror, precision, log: (m) => log.push(m) });
      expect(log).toContain(
        `${MODEL_SPEC.onnxFiles[precision]}: present, converted from the pinned source`,
      );
    }
  });

  it('converts again when the file holds the other precision', async () => {
    const onnxPath = join(dir, MODEL_SPEC.onnxFiles.int8);
    await writeFile(onnxPath, await readFile(join(dir, MODEL_SPEC.onnxFiles.fp32)));
    expect(await lastLine('int8')).toMatch(/was converted to fp32, converted to int8/);
    expect(readOnnxProvenance(await readFile(onnxPath)).precision).toBe('int8');
  });

  it('converts again when the file was converted by other code (an earlier importer)', async () => {
    const onnxPath = join(dir, MODEL_SPEC.onnxFiles.int8);
    const { converterSha256 } = readOnnxProvenance(await readFile(onnxPath));
    const source = await readFile(join(dir, MODEL_SPEC.source.file));
    await writeFile(onnxPath, convertTfliteToOnnx(source, 'int8', 'f'.repeat(64)));
    expect(await lastLine('int8')).toMatch(/was converted by other code, converted to int8/);
    expect(readOnnxProvenance(await readFile(onnxPath)).converterSha256).toBe(converterSha256);
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
    const onnxPath = join(dir, MODEL_SPEC.onnxFiles.fp32);
    await writeFile(onnxPath, convertTfliteToOnnx(other, 'fp32'));
    expect(await lastLine('fp32')).toMatch(/was converted from [0-9a-f]{12}, converted/);
    expect(readOnnxProvenance(await readFile(onnxPath)).sourceSha256).toBe(
      MODEL_SPEC.source.sha256,
    );
  });

  it('converts again when the ONNX file is unreadable', async () => {
    const onnxPath = join(dir, MODEL_SPEC.onnxFiles.int8);
    await writeFile(onnxPath, 'garbage');
    await prepareModel({ dir, mirrorDir: sharedMirror, precision: 'int8' });
    expect(readOnnxProvenance(await readFile(onnxPath)).sourceSha256).toBe(
      MODEL_SPEC.source.sha256,
    );
  });
});
