import { createHash } from 'node:crypto';
import { modelInfo, type PredictionRecord, PredictionStatus } from '@imagerec/shared';
import { pollUntil } from '@imagerec/test-support/poll';
import sharp from 'sharp';
import type { ApiHarness } from './api-harness.js';

/** A small image, distinct per call, whose result the cache already holds: it finishes at once. */
export async function cachedImage(harness: ApiHarness, n: number) {
  const bytes = await sharp({
    create: { width: 40 + n, height: 30, channels: 3, background: '#36a' },
  })
    .png()
    .toBuffer();
  const record: PredictionRecord = {
    jobId: `seed-${n}-${Date.now()}`,
    status: PredictionStatus.Completed,
    filename: 'seed.png',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    byteSize: bytes.length,
    width: 40 + n,
    height: 30,
    format: 'png',
    predictions: Array.from({ length: 5 }, (_, i) => ({
      index: i + 1,
      label: `l${i}`,
      score: 0.1,
    })),
    model: modelInfo(harness.config.model.precision),
    createdAt: new Date(),
    finishedAt: new Date(),
  };
  await harness.repository.upsertMany([record]);
  return bytes;
}

/** The API's settings for webhooks signed with `secret` and outbound calls to loopback `ports` only. */
export const outboundEnv = (secret: string, ports: number[]) => ({
  WEBHOOK_SECRET: secret,
  OUTBOUND_TIMEOUT_MS: '1500',
  OUTBOUND_ALLOWED_HOSTS: ports.map((port) => `127.0.0.1:${port}`).join(','),
});

/** GET /v1/jobs/:id, and polling it until `done` holds. */
export function jobViews(harness: ApiHarness) {
  const getJob = async (id: string) => (await harness.app.inject(`/v1/jobs/${id}`)).json();
  return {
    getJob,
    pollJob: (id: string, done: (view: Record<string, unknown>) => boolean) =>
      pollUntil(() => getJob(id), done, { timeoutMs: 20_000 }),
  };
}
