import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface FilePart {
  name?: string;
  filename: string;
  bytes: Uint8Array;
  type?: string;
}

/** A text field of a form (such as callbackUrl). */
export interface TextPart {
  name: string;
  value: string;
}

/** A multipart/form-data body (text fields, then files) as bytes plus its content type, built with the platform's FormData. */
export async function multipartBody(
  parts: (FilePart | TextPart)[],
  fields: Record<string, string> = {},
) {
  const form = new FormData();
  // Text fields first, as a browser sends the hidden fields placed before the file input.
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  for (const p of parts) {
    if ('value' in p) {
      form.append(p.name, p.value);
      continue;
    }
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

/** POSTs the parts as multipart/form-data to `base` + `path`: the status and the JSON answer. */
export async function postParts(base: string, path: string, parts: FilePart[]) {
  const { payload, headers } = await multipartBody(parts);
  const res = await fetch(`${base}${path}`, { method: 'POST', body: payload, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
