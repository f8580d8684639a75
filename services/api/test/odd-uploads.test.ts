import { createRedis, MODEL_SPEC, pixelsKey } from '@imagerec/shared';
import { multipartBody } from '@imagerec/test-support/multipart';
import { uniqueImage } from '@imagerec/test-support/unique-image';
import type { Redis } from 'ioredis';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useApi } from './support/api-harness.js';
import { imagePart, rawMultipart } from './support/crafted-uploads.js';

const png = (input: Sharp) => input.png().toBuffer();
const solid = (width: number, height: number, channels: 3 | 4 = 3, alpha = 1) =>
  sharp({ create: { width, height, channels, background: { r: 40, g: 120, b: 200, alpha } } });

describe('API component: odd but valid images and filenames, accepted', () => {
  const api = useApi();
  const post = (url: string, body: { payload: Buffer; headers: Record<string, string> }) =>
    api.app.inject({ method: 'POST', url, payload: body.payload, headers: body.headers });
  let redis: Redis;
  const pixelsOf = (id: string) => redis.getBuffer(pixelsKey(api.config.queue.name, id));

  beforeAll(() => {
    redis = createRedis(api.config.redis.url);
  });
  afterAll(() => redis.disconnect());

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
    const job = await api.queue.getJob(id);
    expect(job?.data.upload).toMatchObject({
      filename,
      format,
      width: 50 - (format === 'gif' ? 10 : 0),
    });
    const pixels = await pixelsOf(id);
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
    expect((await api.queue.getJob(id))?.data.upload).toMatchObject({ width: 60, height: 40 });
    const pixels = (await pixelsOf(id)) as Buffer;
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
    expect((await api.queue.getJob(id))?.data.upload.filename).toBe(stored);
    const view = await api.app.inject({ url: `/v1/jobs/${id}` });
    expect(view.json()).toMatchObject({ filename: stored });
  });
});
