import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_SPEC } from '@imagerec/shared';

export type ModelLog = (message: string) => void;

export interface ModelStoreOptions {
  /** Where the files are kept; created if missing. */
  dir: string;
  /** A local copy of the published files; when unset they are downloaded. */
  mirrorDir?: string | undefined;
  log?: ModelLog | undefined;
}

export interface ModelFiles {
  sourcePath: string;
  labelsPath: string;
}

interface PinnedFile {
  file: string;
  url: string;
  sha256: string;
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes via a temporary file and rename, so readers never see half a file. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Download of ${url} failed: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function ensureFile(pinned: PinnedFile, opts: ModelStoreOptions): Promise<string> {
  const log = opts.log ?? (() => {});
  const path = join(opts.dir, pinned.file);
  const present = await readIfExists(path);
  if (present) {
    if (sha256Hex(present) === pinned.sha256) {
      log(`${pinned.file}: present, checksum ok`);
      return path;
    }
    log(`${pinned.file}: present with a wrong checksum, fetching it again`);
  }
  const from = opts.mirrorDir ? join(opts.mirrorDir, pinned.file) : pinned.url;
  const bytes = opts.mirrorDir ? await readFile(from) : await fetchBytes(from);
  const actual = sha256Hex(bytes);
  if (actual !== pinned.sha256) {
    throw new Error(
      `Checksum mismatch for ${pinned.file} from ${from}: expected sha256 ${pinned.sha256}, got ${actual}`,
    );
  }
  await writeFileAtomic(path, bytes);
  log(
    `${pinned.file}: ${opts.mirrorDir ? 'copied' : 'downloaded'} from ${from} (${bytes.length} bytes, checksum ok)`,
  );
  return path;
}

/** Puts the pinned .tflite and labels into `dir`, verified against MODEL_SPEC's checksums. */
export async function ensureModelFiles(opts: ModelStoreOptions): Promise<ModelFiles> {
  await mkdir(opts.dir, { recursive: true });
  const sourcePath = await ensureFile(MODEL_SPEC.source, opts);
  const labelsPath = await ensureFile(MODEL_SPEC.labels, opts);
  return { sourcePath, labelsPath };
}
