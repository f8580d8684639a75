import type { MultipartFile } from '@fastify/multipart';
import { AppError } from '@imagerec/shared';
import type { FastifyRequest } from 'fastify';
import type { Upload } from './submission.js';

const MAX_FILENAME_CHARS = 255;

/**
 * A client's filename as it is stored and shown: its last path segment only (no `../`),
 * without control characters, NFC-normalized, at most 255 characters; `upload` when nothing
 * is left. It is a label, never used as a path.
 */
export function cleanFilename(name: string | undefined): string {
  const base = (name ?? '').split(/[/\\]/).pop() ?? '';
  const isControl = (c: string) => {
    const code = c.codePointAt(0) ?? 0;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  };
  const clean = [...base.normalize('NFC')]
    .filter((c) => !isControl(c))
    .join('')
    .trim();
  const chars = [...clean].slice(0, MAX_FILENAME_CHARS).join('');
  return chars === '' || chars === '.' || chars === '..' ? 'upload' : chars;
}

/** The files of the form field `image` (the multipart plugin has already read them, within its limits). */
export async function readUploads(request: FastifyRequest, max: number): Promise<Upload[]> {
  const { image } = (request.body ?? {}) as { image?: MultipartFile | MultipartFile[] };
  const files = (Array.isArray(image) ? image : [image]).filter(
    (f): f is MultipartFile => f?.type === 'file',
  );
  if (files.length === 0) throw new AppError('NO_IMAGE');
  if (files.length > max) {
    throw new AppError('TOO_MANY_FILES', `At most ${max} file(s) in the field "image" per request`);
  }
  return Promise.all(
    files.map(async (f) => ({ filename: cleanFilename(f.filename), bytes: await f.toBuffer() })),
  );
}

export const statusUrl = (base: string, id: string) => `${base}/v1/jobs/${id}`;
