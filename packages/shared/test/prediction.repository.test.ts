import { testConfig } from '@imagerec/test-support/test-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRedis,
  formatCursor,
  type HistoryCursor,
  modelInfo,
  type PredictionRecord,
  PredictionRepository,
  PredictionStatus,
  parseCursor,
  resultKeys,
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
  const config = testConfig();
  let repo: PredictionRepository;
  beforeAll(async () => {
    repo = await PredictionRepository.connect(config);
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
      (await repo.listRecent(10, { createdAt: new Date('2026-01-02T00:00:00Z') })).map(
        (r) => r.jobId,
      ),
    ).toEqual(['a']);
  });

  it('pages through jobs accepted in the same millisecond, each exactly once', async () => {
    const at = new Date('2026-02-01T00:00:00Z');
    const ids = ['t1', 't2', 't3', 't4', 't5'];
    await repo.upsertMany(ids.map((id) => record(id, at)));
    const seen: string[] = [];
    let before: HistoryCursor | undefined;
    for (;;) {
      const page = await repo.listRecent(2, before);
      seen.push(...page.map((r) => r.jobId));
      const last = page.at(-1);
      if (page.length < 2 || !last) break;
      before = parseCursor(formatCursor(last));
    }
    expect(seen.filter((id) => ids.includes(id)).sort()).toEqual(ids);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('indexes each job once in the history, however often it is written', async () => {
    const size = await repo.historySize();
    await repo.upsertMany([record('t1', new Date('2026-02-01T00:00:00Z'))]);
    expect(await repo.historySize()).toBe(size);
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

  it('rebuilds the history index from MongoDB when Redis has lost it', async () => {
    const size = await repo.historySize();
    // What a Redis restart without persistence does to the index.
    const redis = createRedis(config.redis.url);
    await redis.del(resultKeys(new URL(config.mongo.url).pathname.slice(1)).history);
    redis.disconnect();
    expect(await repo.listRecent(10)).toEqual([]);
    expect(await repo.rebuildHistoryIfLost()).toBe(size);
    expect(await repo.rebuildHistoryIfLost()).toBe(0);
    expect((await repo.listRecent(2)).map((r) => r.jobId)).toHaveLength(2);
  });
});

describe('retention', () => {
  const DAY = 24 * 3600 * 1000;
  const now = new Date();
  let repo: PredictionRepository;
  beforeAll(async () => {
    repo = await PredictionRepository.connect(testConfig({ RESULTS_RETENTION_DAYS: '7' }));
  });
  afterAll(async () => {
    await repo.dropDatabase();
    await repo.close();
  });

  it('sweeps predictions older than RESULTS_RETENTION_DAYS and keeps the rest', async () => {
    const ages = [30, 10, 8, 6, 1];
    await repo.upsertMany(ages.map((d) => record(`age-${d}`, new Date(now.getTime() - d * DAY))));
    expect(await repo.sweep(now, 2)).toBe(3);
    for (const d of [30, 10, 8]) expect(await repo.findByJobId(`age-${d}`)).toBeNull();
    for (const d of [6, 1]) expect(await repo.findByJobId(`age-${d}`)).not.toBeNull();
    expect(await repo.historySize()).toBe(2);
    expect(await repo.sweep(now)).toBe(0);
  });

  it('never lists what is past the retention, swept or not', async () => {
    await repo.upsertMany([record('ancient', new Date('2020-01-01T00:00:00Z'))]);
    const ids = (await repo.listRecent(100)).map((r) => r.jobId);
    expect(ids).not.toContain('ancient');
    expect(ids).toContain('age-1');
  });
});
