import { join } from 'node:path';
import { filePart, multipartBody } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { useApi } from './support/api-harness.js';
import { declaredPng, rawMultipart } from './support/crafted-uploads.js';

const MAX_UPLOAD_BYTES = 1024 * 1024;
const cat = filePart(join(IMAGES_DIR, 'cat.png'));
const parrot = filePart(join(IMAGES_DIR, 'parrot.jpg'));

// Odd but valid uploads, accepted: odd-uploads.test.ts.
describe('API component: bad input, row by row, then a good request', () => {
  const api = useApi({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_FILES: '4' });
  let app: FastifyInstance;

  const post = (url: string, body: { payload: Buffer; headers: Record<string, string> }) =>
    app.inject({ method: 'POST', url, payload: body.payload, headers: body.headers });
  const queued = () => api.queue.getJobCountByTypes('wait', 'prioritized');

  beforeAll(() => {
    ({ app } = api);
  });

  /** After every row: the service still takes a good upload. */
  const servesTheNextGoodRequest = async () => {
    const res = await post('/v1/jobs', await multipartBody([cat]));
    expect(res.statusCode).toBe(202);
  };

  type Body = { payload: Buffer; headers: Record<string, string> };
  const refusals: [string, string, () => Promise<Body>, number, string][] = [
    [
      'an empty file',
      '/v1/jobs',
      () => multipartBody([{ filename: 'e.jpg', bytes: new Uint8Array() }]),
      415,
      'UNSUPPORTED_FORMAT',
    ],
    [
      'no file, only a text field',
      '/v1/jobs',
      async () =>
        rawMultipart([
          { headers: 'Content-Disposition: form-data; name="note"', bytes: Buffer.from('hi') },
        ]),
      400,
      'NO_IMAGE',
    ],
    [
      'the file in a wrong field',
      '/v1/jobs',
      () => multipartBody([{ ...cat, name: 'file' }]),
      400,
      'NO_IMAGE',
    ],
    [
      'two files where one is expected',
      '/v1/predict',
      () => multipartBody([cat, parrot]),
      400,
      'BAD_REQUEST',
    ],
    [
      'more files than MAX_FILES',
      '/v1/jobs',
      () => multipartBody([cat, cat, cat, cat, cat]),
      400,
      'TOO_MANY_FILES',
    ],
    [
      'text named .jpg',
      '/v1/jobs',
      () => multipartBody([{ filename: 'a.jpg', bytes: Buffer.from('just some text\n') }]),
      415,
      'UNSUPPORTED_FORMAT',
    ],
    [
      'a truncated JPEG',
      '/v1/jobs',
      async () =>
        multipartBody([
          { filename: 'cut.jpg', bytes: parrot.bytes.subarray(0, parrot.bytes.length / 3) },
        ]),
      422,
      'UNDECODABLE_IMAGE',
    ],
    [
      'a PNG with a bad CRC',
      '/v1/jobs',
      async () => multipartBody([{ filename: 'crc.png', bytes: declaredPng(16, 16, true) }]),
      422,
      'UNDECODABLE_IMAGE',
    ],
    [
      'a small file declaring 20000x20000 pixels',
      '/v1/jobs',
      async () => multipartBody([{ filename: 'bomb.png', bytes: declaredPng(20_000, 20_000) }]),
      422,
      'TOO_MANY_PIXELS',
    ],
    [
      'an SVG',
      '/v1/jobs',
      async () =>
        multipartBody([
          {
            filename: 'x.svg',
            type: 'image/svg+xml',
            bytes: Buffer.from(
              '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
            ),
          },
        ]),
      415,
      'UNSUPPORTED_FORMAT',
    ],
    [
      'a PDF',
      '/v1/jobs',
      async () =>
        multipartBody([
          {
            filename: 'x.pdf',
            type: 'application/pdf',
            bytes: Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n'),
          },
        ]),
      415,
      'UNSUPPORTED_FORMAT',
    ],
    [
      'a JSON body',
      '/v1/jobs',
      async () => ({
        payload: Buffer.from('{"image":"cat.png"}'),
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'BAD_REQUEST',
    ],
    [
      'an XML body',
      '/v1/predict',
      async () => ({
        payload: Buffer.from('<image/>'),
        headers: { 'content-type': 'application/xml' },
      }),
      400,
      'NO_IMAGE',
    ],
    [
      'no body at all',
      '/v1/jobs',
      async () => ({ payload: Buffer.alloc(0), headers: {} }),
      400,
      'BAD_REQUEST',
    ],
    [
      'multipart without a boundary',
      '/v1/jobs',
      async () => ({
        payload: Buffer.from('--x\r\n\r\n--x--'),
        headers: { 'content-type': 'multipart/form-data' },
      }),
      400,
      'BAD_REQUEST',
    ],
    [
      'a multipart body cut off mid-part',
      '/v1/jobs',
      async () => {
        const b = await multipartBody([cat]);
        return { ...b, payload: b.payload.subarray(0, 5000) };
      },
      400,
      'BAD_REQUEST',
    ],
    [
      'multipart with a broken part header',
      '/v1/jobs',
      async () => ({
        payload: Buffer.from(
          '--b\r\nContent-Disposition form-data name=image\r\n\r\nxx\r\n--b--\r\n',
        ),
        headers: { 'content-type': 'multipart/form-data; boundary=b' },
      }),
      400,
      'BAD_REQUEST',
    ],
    [
      'an upload over the limit',
      '/v1/jobs',
      () =>
        multipartBody([
          {
            filename: 'big.png',
            bytes: Buffer.concat([cat.bytes, Buffer.alloc(MAX_UPLOAD_BYTES)]),
          },
        ]),
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'topK that is no number',
      '/v1/jobs?topK=three',
      () => multipartBody([cat]),
      400,
      'BAD_REQUEST',
    ],
    [
      'topK that is a fraction',
      '/v1/jobs?topK=2.5',
      () => multipartBody([cat]),
      400,
      'BAD_REQUEST',
    ],
    [
      'timeoutMs below 1',
      '/v1/predict?timeoutMs=0',
      () => multipartBody([cat]),
      400,
      'BAD_REQUEST',
    ],
    [
      'timeoutMs as a word',
      '/predict?timeoutMs=soon',
      () => multipartBody([cat]),
      400,
      'BAD_REQUEST',
    ],
  ];

  it.each(refusals)('refuses %s (%s), nothing queued', async (_name, url, body, status, code) => {
    const before = await queued();
    const res = await post(url, await body());
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toMatchObject({ error: { code, message: expect.any(String) } });
    expect(JSON.stringify(res.json())).not.toMatch(/\bat .*\.(js|ts):\d+/);
    expect(await queued()).toBe(before);
    await servesTheNextGoodRequest();
  });

  it.each([
    ['a job id over 100 characters', `/v1/jobs/${'a'.repeat(101)}`, 400, 'BAD_REQUEST'],
    ['a job id of 5000 characters', `/v1/jobs/${'b'.repeat(5000)}`, 400, 'BAD_REQUEST'],
    ['a job id with broken percent-encoding', '/v1/jobs/%E0%A4%A', 400, 'BAD_REQUEST'],
    ['a job id that is dots', '/v1/jobs/..%2F..%2Fetc', 404, 'JOB_NOT_FOUND'],
    ['an unknown job id with a NUL', '/v1/jobs/abc%00def', 404, 'JOB_NOT_FOUND'],
    ['waitMs that is negative', '/v1/jobs/some-id?waitMs=-5', 400, 'BAD_REQUEST'],
    ['waitMs as a word', '/v1/jobs/some-id?waitMs=long', 400, 'BAD_REQUEST'],
    ['a thumbnail of an unknown job', '/v1/jobs/nope/thumbnail', 404, 'NOT_FOUND'],
    ['a history limit over 100', '/v1/predictions?limit=101', 400, 'BAD_REQUEST'],
    ['a history cursor that is no date', '/v1/predictions?before=yesterday', 400, 'BAD_REQUEST'],
  ])('answers %s (%s)', async (_name, url, status, code) => {
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: { code } });
    await servesTheNextGoodRequest();
  });

  it('answers a bad query on the history page with an HTML error page', async () => {
    const res = await app.inject({ url: '/?limit=abc' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('BAD_REQUEST');
  });

  it('answers a known path asked with another method 405 with Allow', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/v1/jobs/some-id' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(res.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
  });
});
