import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import {
  type AppConfig,
  type ClassifyJobData,
  createRedis,
  MODEL_SPEC,
  pixelsKey,
} from '@imagerec/shared';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filePart, multipartBody } from '../../../tests/support/multipart.js';
import { IMAGES_DIR, testConfig } from '../../../tests/support/test-config.js';
import { uniqueImage } from '../../../tests/support/unique-image.js';
import { buildApp } from '../src/app.js';

const MAX_UPLOAD_BYTES = 1024 * 1024;
const cat = filePart(join(IMAGES_DIR, 'cat.png'));
const parrot = filePart(join(IMAGES_DIR, 'parrot.jpg'));

/** A multipart body written by hand, for what FormData would not send (raw filenames, bad framing). */
function rawMultipart(parts: { headers: string; bytes: Buffer }[], boundary = 'xXbOuNdArYXx') {
  const chunks = parts.flatMap((p) => [
    Buffer.from(`--${boundary}\r\n${p.headers}\r\n\r\n`, 'latin1'),
    p.bytes,
    Buffer.from('\r\n'),
  ]);
  return {
    payload: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

const imagePart = (filename: string, bytes: Buffer) => ({
  // The filename goes in as UTF-8 bytes, as browsers send it.
  headers: Buffer.from(
    `Content-Disposition: form-data; name="image"; filename="${filename}"\r\nContent-Type: application/octet-stream`,
  ).toString('latin1'),
  bytes,
});

const png = (input: Sharp) => input.png().toBuffer();
const solid = (width: number, height: number, channels: 3 | 4 = 3, alpha = 1) =>
  sharp({ create: { width, height, channels, background: { r: 40, g: 120, b: 200, alpha } } });

/** A PNG chunk with its CRC; `badCrc` spoils it. */
function chunk(type: string, data: Buffer, badCrc = false) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(body) ^ (badCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose header declares width x height, with one row of real data (a decompression bomb's shape). */
function declaredPng(width: number, height: number, badCrc = false) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr, badCrc),
    chunk('IDAT', deflateSync(Buffer.alloc(1 + Math.min(width, 64) * 3))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('API component: bad input, row by row, then a good request', () => {
  let config: AppConfig;
  let app: FastifyInstance;
  let queue: Queue<ClassifyJobData>;
  let redis: Redis;

  const post = (url: string, body: { payload: Buffer; headers: Record<string, string> }) =>
    app.inject({ method: 'POST', url, payload: body.payload, headers: body.headers });
  const queued = () => queue.getJobCountByTypes('wait', 'prioritized');

  beforeAll(async () => {
    config = testConfig({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_FILES: '4' });
    app = await buildApp(config);
    redis = createRedis(config.redis.url);
    queue = new Queue(config.queue.name, { connection: redis });
  });

  afterAll(async () => {
    await app.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await app.repository.dropDatabase().catch(() => {});
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

  const animatedGif = async () => {
    const frames = await Promise.all(
      ['#c33', '#3c3', '#33c'].map((c) =>
        sharp({ create: { width: 40, height: 30, channels: 3, background: c } })
          .png()
          .toBuffer(),
      ),
    );
    return sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
  };

  it.each([
    ['an animated GIF (first frame)', 'anim.gif', animatedGif, 'gif'],
    [
      'a CMYK JPEG',
      'cmyk.jpg',
      () => solid(50, 40).toColourspace('cmyk').jpeg().toBuffer(),
      'jpeg',
    ],
    ['a 16-bit PNG', 'deep.png', () => png(solid(50, 40).toColourspace('rgb16')), 'png'],
    ['a grayscale PNG', 'gray.png', () => png(solid(50, 40).grayscale()), 'png'],
    ['a transparent PNG', 'clear.png', () => png(solid(50, 40, 4, 0)), 'png'],
  ])('accepts %s', async (_name, filename, bytes, format) => {
    const res = await post('/v1/jobs', await multipartBody([{ filename, bytes: await bytes() }]));
    expect(res.statusCode).toBe(202);
    const [{ id }] = (res.json() as { jobs: [{ id: string }] }).jobs;
    const job = await queue.getJob(id);
    expect(job?.data.upload).toMatchObject({
      filename,
      format,
      width: 50 - (format === 'gif' ? 10 : 0),
    });
    const pixels = await redis.getBuffer(pixelsKey(config.queue.name, id));
    expect(pixels?.length).toBe(MODEL_SPEC.inputBytes);
  });

  it('turns an EXIF-rotated JPEG upright before the model sees it', async () => {
    // Upright: red above blue. Stored turned a quarter clockwise, with EXIF saying to turn it back.
    const upright = await sharp({
      create: { width: 60, height: 40, channels: 3, background: '#f00' },
    })
      .composite([
        {
          input: await sharp({ create: { width: 60, height: 20, channels: 3, background: '#00f' } })
            .png()
            .toBuffer(),
          top: 20,
          left: 0,
        },
      ])
      .png()
      .toBuffer();
    const stored = await sharp(upright)
      .rotate(90)
      .jpeg()
      .withMetadata({ orientation: 8 })
      .toBuffer();
    expect((await sharp(stored).metadata()).width).toBe(40);

    const res = await post(
      '/v1/jobs',
      await multipartBody([{ filename: 'turned.jpg', bytes: stored }]),
    );
    expect(res.statusCode).toBe(202);
    const [{ id }] = (res.json() as { jobs: [{ id: string }] }).jobs;
    expect((await queue.getJob(id))?.data.upload).toMatchObject({ width: 60, height: 40 });
    const pixels = (await redis.getBuffer(pixelsKey(config.queue.name, id))) as Buffer;
    const size = MODEL_SPEC.inputSize;
    const at = (row: number) => [
      ...pixels.subarray((row * size + size / 2) * 3, (row * size + size / 2) * 3 + 3),
    ];
    const [rTop, , bTop] = at(10);
    const [rBottom, , bBottom] = at(size - 10);
    expect(rTop).toBeGreaterThan(200);
    expect(bTop).toBeLessThan(60);
    expect(bBottom).toBeGreaterThan(200);
    expect(rBottom).toBeLessThan(60);
  });

  it.each([
    ['path traversal', '../../../etc/passwd.png', 'passwd.png'],
    ['control characters', 'a\u0001b\u001bc.png', 'abc.png'],
    ['unicode', '猫の写真 🐱.png', '猫の写真 🐱.png'],
    ['a 1 KB name', `${'n'.repeat(1020)}.png`, 'n'.repeat(255)],
  ])('accepts a filename with %s, stored cleaned', async (_name, filename, stored) => {
    // Bytes of its own: the same bytes would join the previous row's job, named as uploaded then.
    const { bytes } = await uniqueImage(filename);
    const res = await post('/v1/jobs', rawMultipart([imagePart(filename, Buffer.from(bytes))]));
    expect(res.statusCode).toBe(202);
    const [{ id }] = (res.json() as { jobs: [{ id: string }] }).jobs;
    expect((await queue.getJob(id))?.data.upload.filename).toBe(stored);
    const view = await app.inject({ url: `/v1/jobs/${id}` });
    expect(view.json()).toMatchObject({ filename: stored });
  });
});
