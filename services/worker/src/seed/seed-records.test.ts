import { modelInfo, PredictionStatus } from '@imagerec/shared';
import { describe, expect, it } from 'vitest';
import { seedRecord } from './seed-records.js';

const opts = () => ({
  now: new Date('2026-11-01T00:00:00Z'),
  spanDays: 28,
  labels: Array.from({ length: 1001 }, (_, i) => `label ${i}`),
  thumbnails: [Buffer.from('a'), Buffer.from('b')],
  model: modelInfo('int8'),
  processedBy: 'seed:1',
  random: Math.random,
});

describe('seedRecord', () => {
  it('makes finished predictions spread over the span, with falling top-5 scores', () => {
    const o = opts();
    for (let i = 0; i < 500; i++) {
      const r = seedRecord(i, o);
      expect(r.status).toBe(PredictionStatus.Completed);
      const age = o.now.getTime() - r.createdAt.getTime();
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThanOrEqual(28 * 24 * 3600 * 1000);
      expect(r.finishedAt.getTime()).toBeGreaterThan(r.createdAt.getTime());
      const scores = (r.predictions ?? []).map((p) => p.score);
      expect(scores).toHaveLength(5);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
      expect(scores.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
      for (const p of r.predictions ?? []) expect(p.label).toBe(`label ${p.index}`);
      expect(r.thumbnail?.length).toBe(1);
    }
  });

  it('gives every record its own job id and checksum', () => {
    const o = opts();
    const records = Array.from({ length: 1000 }, (_, i) => seedRecord(i, o));
    expect(new Set(records.map((r) => r.jobId)).size).toBe(1000);
    expect(new Set(records.map((r) => r.sha256)).size).toBe(1000);
  });
});
