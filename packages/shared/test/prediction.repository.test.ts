import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../../tests/support/test-config.js';
import {
  modelInfo,
  type PredictionRecord,
  PredictionRepository,
  PredictionStatus,
} from '../src/index.js';

const record = (
  jobId: string,
  createdAt: Date,
  over: Partial<PredictionRecord> = {},
): PredictionRecord => ({
  jobId,
  status: PredictionStatus.Completed,
  filename: `${jobId}.png`,
  sha256: `sha-${jobId}`,
  byteSize: 1234,
  width: 640,
  height: 480,
  format: 'png',
  thumbnail: Buffer.from([1, 2, 3]),
  predictions: [{ index: 286, label: 'Egyptian cat', score: 0.8 }],
  model: modelInfo('int8'),
  timings: { queuedMs: 1, inferenceMs: 2, totalMs: 3, batchSize: 1 },
  cached: false,
  createdAt,
  finishedAt: new Date(createdAt.getTime() + 10),
  ...over,
});

describe('PredictionRepository against the MongoDB-protocol server', () => {
  let repo: PredictionRepository;
  beforeAll(async () => {
    repo = await PredictionRepository.connect(testConfig().mongo.url);
  });
  afterAll(async () => {
    await repo.dropDatabase();
    await repo.close();
  });

  it('writes and reads a document, thumbnail bytes included', async () => {
    await repo.upsertMany([record('a', new Date('2026-01-01T00:00:00Z'))]);
    const found = await repo.findByJobId('a');
    expect(found?.predictions?.[0]?.label).toBe('Egyptian cat');
    expect(Buffer.from(found?.thumbnail ?? []).equals(Buffer.from([1, 2, 3]))).toBe(true);
    expect(found?.createdAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('upserts by job id, so a redelivered job does not add a document', async () => {
    const before = await repo.count();
    await repo.upsertMany([
      record('a', new Date('2026-01-01T00:00:00Z'), { filename: 'again.png' }),
    ]);
    expect(await repo.count()).toBe(before);
    expect((await repo.findByJobId('a'))?.filename).toBe('again.png');
  });

  it('lists newest first and pages with before', async () => {
    await repo.upsertMany([
      record('b', new Date('2026-01-02T00:00:00Z')),
      record('c', new Date('2026-01-03T00:00:00Z')),
    ]);
    expect((await repo.listRecent(2)).map((r) => r.jobId)).toEqual(['c', 'b']);
    expect(
      (await repo.listRecent(10, new Date('2026-01-02T00:00:00Z'))).map((r) => r.jobId),
    ).toEqual(['a']);
  });

  it('caches fresh completed predictions by checksum and model version only', async () => {
    await repo.upsertMany([
      record('d', new Date(), { sha256: 'same', status: PredictionStatus.Failed }),
    ]);
    expect(await repo.findCachedPredictions('same', modelInfo('int8').version)).toBeNull();
    await repo.upsertMany([record('e', new Date(), { sha256: 'same' })]);
    expect(await repo.findCachedPredictions('same', modelInfo('int8').version)).toEqual([
      { index: 286, label: 'Egyptian cat', score: 0.8 },
    ]);
    expect(await repo.findCachedPredictions('same', modelInfo('fp32').version)).toBeNull();
    await repo.upsertMany([
      record('f', new Date(), { sha256: 'answered-from-cache', cached: true }),
    ]);
    expect(
      await repo.findCachedPredictions('answered-from-cache', modelInfo('int8').version),
    ).toBeNull();
  });
});
