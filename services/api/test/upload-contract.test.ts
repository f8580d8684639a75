import { join } from 'node:path';
import type { ClassifyJobData, ClassifyResult } from '@imagerec/shared';
import { filePart, multipartBody } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, useApi } from './support/api-harness.js';

const cat = filePart(join(IMAGES_DIR, 'cat.png'));

describe('API component: the upload contract, its refusals and its OpenAPI document', () => {
  let app: FastifyInstance;
  let queue: Queue<ClassifyJobData, ClassifyResult>;
  const harness = useApi({ MAX_UPLOAD_BYTES: String(2 * 1024 * 1024), MAX_FILES: '3' });
  const post: ApiHarness['post'] = (...args) => harness.post(...args);
  const queued = () => queue.getJobCountByTypes('waiting', 'prioritized', 'active', 'delayed');

  beforeAll(() => {
    ({ app, queue } = harness);
  });

  it.each([
    ['no file', [{ name: 'other', filename: 'x.png', bytes: cat.bytes }], 400, 'NO_IMAGE'],
    ['too many files', [cat, cat, cat, cat], 400, 'TOO_MANY_FILES'],
    [
      'a file over the size limit',
      [{ filename: 'big.png', bytes: new Uint8Array(3 * 1024 * 1024) }],
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'bytes that are no image, named .png',
      [
        {
          filename: 'fake.png',
          bytes: Buffer.from('hello world, not a picture'),
          type: 'image/png',
        },
      ],
      415,
      'UNSUPPORTED_FORMAT',
    ],
    [
      'a truncated PNG',
      [{ filename: 'cut.png', bytes: cat.bytes.subarray(0, 20_000) }],
      422,
      'UNDECODABLE_IMAGE',
    ],
  ])('refuses %s before anything is queued', async (_name, parts, status, code) => {
    const before = await queued();
    const res = await post('/v1/jobs', parts);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: { code } });
    expect(await queued()).toBe(before);
  });

  it('refuses a good file together with a bad one, whole', async () => {
    const before = await queued();
    const res = await post('/v1/jobs', [
      cat,
      { filename: 'bad.gif', bytes: Buffer.from('GIF89a broken') },
    ]);
    expect(res.statusCode).toBe(422);
    expect(await queued()).toBe(before);
  });

  it('refuses an image over the pixel limit without decoding it', async () => {
    const small = await harness.replica((c) => ({ ...c, api: { ...c.api, maxPixels: 1000 } }));
    const body = await multipartBody([cat]);
    const res = await small.inject({ method: 'POST', url: '/v1/jobs', ...body });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: { code: 'TOO_MANY_PIXELS' } });
  });

  it.each([
    ['/v1/jobs?topK=0', 'POST'],
    ['/v1/jobs?topK=21', 'POST'],
    ['/v1/predict?timeoutMs=60001', 'POST'],
    ['/v1/predictions?limit=abc', 'GET'],
    ['/v1/jobs/some-id?waitMs=-5', 'GET'],
  ])('answers bad query values with 400: %s', async (url, method) => {
    const res =
      method === 'POST' ? await post(url, [cat]) : await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });

  it('answers 404 for an unknown job and an unknown route, as JSON', async () => {
    const job = await app.inject({ url: '/v1/jobs/does-not-exist' });
    expect(job.statusCode).toBe(404);
    expect(job.json()).toMatchObject({ error: { code: 'JOB_NOT_FOUND' } });
    const route = await app.inject({ url: '/nope' });
    expect(route.statusCode).toBe(404);
    expect(route.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('still accepts a good upload after refusing bad ones', async () => {
    const res = await post('/v1/jobs', [cat]);
    expect(res.statusCode).toBe(202);
  });

  it('refuses a form field other than image with 400, as its document says', async () => {
    for (const name of ['note', 'constructor']) {
      const form = new FormData();
      form.append('image', new Blob([cat.bytes], { type: 'image/png' }), cat.filename);
      form.append(name, 'x');
      const body = new Request('http://localhost/', { method: 'POST', body: form });
      const res = await app.inject({
        method: 'POST',
        url: '/v1/jobs',
        payload: Buffer.from(await body.arrayBuffer()),
        headers: { 'content-type': body.headers.get('content-type') ?? '' },
      });
      expect(res.statusCode, name).toBe(400);
      expect(res.json(), name).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      // The multipart parser refuses a prototype name itself, with its own message.
      if (name === 'note') expect(res.json().error.message).toContain('"note"');
    }
    const otherFile = await post('/v1/jobs', [{ ...cat, name: 'picture' }]);
    expect(otherFile.statusCode).toBe(400);
  });

  it('documents every route in OpenAPI 3 with response schemas', async () => {
    const res = await app.inject({ url: '/docs/json' });
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, { responses: object }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/predict',
      '/predict',
      '/v1/predictions',
      '/',
      '/health',
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
    type FormSchema = { properties: { image: object } };
    type Upload = { requestBody: { content: Record<string, { schema: FormSchema }> } };
    const formSchema = (path: string) =>
      (doc.paths[path]?.post as unknown as Upload | undefined)?.requestBody.content[
        'multipart/form-data'
      ]?.schema;
    // One file for the predict calls (the history form's several are not the API's contract),
    // 1 to MAX_FILES for /v1/jobs, and no field but `image` and `callbackUrl`.
    for (const path of ['/v1/predict', '/predict']) {
      expect(formSchema(path)?.properties.image, path).toMatchObject({
        type: 'string',
        format: 'binary',
      });
    }
    expect(formSchema('/v1/jobs')?.properties.image).toMatchObject({
      anyOf: [
        { type: 'string', format: 'binary' },
        { type: 'array', items: { format: 'binary' }, minItems: 1, maxItems: 3 },
      ],
    });
    for (const path of ['/v1/predict', '/predict', '/v1/jobs']) {
      const body = formSchema(path);
      expect(body, path).toMatchObject({
        required: ['image'],
        propertyNames: { enum: ['image', 'callbackUrl'] },
      });
      // schemathesis cannot judge a `not` against a file part (ValueError: Unsupported type).
      expect(JSON.stringify(body), path).not.toContain('"not"');
    }
    expect(Object.keys(doc.paths['/v1/predict']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '202', '413', '415', '422']),
    );
  });
});
