import { multipartBody } from './multipart.js';
import { uniqueImage } from './unique-image.js';

/** How a POST of fresh images was answered; a connection error is an answer too (status 0). */
export interface UploadAnswer {
  status: number;
  ms: number;
  retryAfter: string | null;
  ids: string[];
  /** Which API process answered (x-instance). */
  instance: string | null;
  error?: string;
}

/** POSTs `files` images nobody uploaded before to `base + path`, in the field `image`. */
export async function uploadFresh(
  base: string,
  path = '/v1/jobs',
  files = 1,
): Promise<UploadAnswer> {
  const parts = await Promise.all(
    Array.from({ length: files }, (_, i) => uniqueImage(`f${i}.png`)),
  );
  const { payload, headers } = await multipartBody(parts);
  const started = Date.now();
  try {
    const res = await fetch(`${base}${path}`, { method: 'POST', body: payload, headers });
    const body = (await res.json()) as { jobs?: { id: string }[]; id?: string };
    return {
      status: res.status,
      ms: Date.now() - started,
      retryAfter: res.headers.get('retry-after'),
      ids: body.jobs?.map((j) => j.id) ?? (body.id ? [body.id] : []),
      instance: res.headers.get('x-instance'),
    };
  } catch (err) {
    const ms = Date.now() - started;
    return { status: 0, ms, retryAfter: null, ids: [], instance: null, error: String(err) };
  }
}
