import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_SPEC } from '@imagerec/shared';
import { SHARED_MODELS_DIR as sharedMirror } from '@imagerec/test-support/shared-files';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureModelFiles, sha256Hex } from './model-store.js';

describe('ensureModelFiles', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'model-store-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('refuses a mirror file whose checksum does not match, naming file and checksums', async () => {
    const mirrorDir = join(tmp, 'mirror');
    const dir = join(tmp, 'models');
    await mkdir(mirrorDir);
    const corrupted = Buffer.from('not the model');
    await writeFile(join(mirrorDir, MODEL_SPEC.source.file), corrupted);
    const attempt = ensureModelFiles({ dir, mirrorDir });
    await expect(attempt).rejects.toThrow(
      `Checksum mismatch for ${MODEL_SPEC.source.file} from ${join(mirrorDir, MODEL_SPEC.source.file)}: ` +
        `expected sha256 ${MODEL_SPEC.source.sha256}, got ${sha256Hex(corrupted)}`,
    );
    expect(existsSync(join(dir, MODEL_SPEC.source.file))).toBe(false);
  });

  it.skipIf(!existsSync(sharedMirror))(
    'copies from the mirror once, then skips verified files',
    async () => {
      const dir = join(tmp, 'models');
      const first: string[] = [];
      const files = await ensureModelFiles({
        dir,
        mirrorDir: sharedMirror,
        log: (m) => first.push(m),
      });
      expect(sha256Hex(await readFile(files.sourcePath))).toBe(MODEL_SPEC.source.sha256);
      expect(sha256Hex(await readFile(files.labelsPath))).toBe(MODEL_SPEC.labels.sha256);
      expect(first.every((m) => m.includes('copied from'))).toBe(true);

      // A damaged local copy is replaced; an intact one is left alone.
      await writeFile(files.labelsPath, 'damaged');
      const second: string[] = [];
      await ensureModelFiles({ dir, mirrorDir: sharedMirror, log: (m) => second.push(m) });
      expect(second).toEqual([
        `${MODEL_SPEC.source.file}: present, checksum ok`,
        `${MODEL_SPEC.labels.file}: present with a wrong checksum, fetching it again`,
        expect.stringContaining(`${MODEL_SPEC.labels.file}: copied from`),
      ]);
      expect(sha256Hex(await readFile(files.labelsPath))).toBe(MODEL_SPEC.labels.sha256);
    },
  );
});
