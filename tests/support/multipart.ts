import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface FilePart {
  name?: string;
  filename: string;
  bytes: Uint8Array;
  type?: string;
}

/** A multipart/form-data body as bytes plus its content type, built with the platform's FormData. */
export async function multipartBody(parts: FilePart[]) {
  const form = new FormData();
  for (const p of parts) {
    form.append(
      p.name ?? 'image',
      new Blob([p.bytes], { type: p.type ?? 'application/octet-stream' }),
      p.filename,
    );
  }
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await request.arrayBuffer()),
    headers: { 'content-type': request.headers.get('content-type') ?? '' },
  };
}

export const filePart = (path: string, name = 'image'): FilePart => ({
  name,
  filename: basename(path),
  bytes: readFileSync(path),
});
