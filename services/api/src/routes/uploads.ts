import type { MultipartFile } from '@fastify/multipart';
import { AppError } from '@imagerec/shared';
import type { FastifyRequest } from 'fastify';
import type { Upload } from '../jobs/job.service.js';

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
    files.map(async (f) => ({ filename: f.filename || 'upload', bytes: await f.toBuffer() })),
  );
}

export const statusUrl = (base: string, id: string) => `${base}/v1/jobs/${id}`;
