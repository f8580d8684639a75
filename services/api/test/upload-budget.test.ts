import { multipartBody } from '@imagerec/test-support/multipart';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { useApi } from './support/api-harness.js';

const MIB = 1024 * 1024;

/** A PNG of noise a little over 1 MiB: it does not compress, so its upload takes the budget. */
const largePng = () => {
  const side = 600;
  const noise = Buffer.from(
    Array.from({ length: side * side * 3 }, () => (Math.random() * 256) | 0),
  );
  return sharp(noise, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
};

describe('API component: uploads are read within UPLOAD_BUDGET_BYTES', () => {
  // A budget of one such upload, and almost no wait for it.
  const api = useApi({ UPLOAD_BUDGET_BYTES: String(MIB), UPLOAD_WAIT_MS: '1' });

  const postAll = async (app: FastifyInstance, count: number) => {
    const bodies = await Promise.all(
      Array.from({ length: count }, async () =>
        multipartBody([{ filename: 'noise.png', bytes: await largePng() }]),
      ),
    );
    for (const body of bodies) expect(body.payload.length).toBeGreaterThan(MIB);
    return Promise.all(
      bodies.map((body) => app.inject({ method: 'POST', url: '/v1/jobs', ...body })),
    );
  };

  it('answers 503 UPLOADS_BUSY with Retry-After when the wait runs out; what it accepted is queued', async () => {
    const before = await api.queue.count();
    const answers = await postAll(api.app, 6);
    const accepted = answers.filter((r) => r.statusCode === 202);
    const busy = answers.filter((r) => r.statusCode === 503);
    expect(accepted.length).toBeGreaterThan(0);
    expect(busy.length).toBeGreaterThan(0);
    expect(accepted.length + busy.length).toBe(answers.length);
    for (const res of busy) {
      expect(res.json()).toMatchObject({ error: { code: 'UPLOADS_BUSY' } });
      expect(res.headers['retry-after']).toBe('1');
    }
    expect((await api.queue.count()) - before).toBe(accepted.length);
  });

  it('lets the uploads wait their turn instead, one at a time, when the wait is long enough', async () => {
    const patient = await api.replica((c) => ({ ...c, api: { ...c.api, uploadWaitMs: 30_000 } }));
    const answers = await postAll(patient, 4);
    expect(answers.map((r) => r.statusCode)).toEqual([202, 202, 202, 202]);
  });
});
