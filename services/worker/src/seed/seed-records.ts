import { createHash } from 'node:crypto';
import {
  type ImageFormat,
  type ModelInfo,
  type PredictionRecord,
  PredictionStatus,
} from '@imagerec/shared';

export interface SeedOptions {
  /** The newest createdAt; records spread back from it over `spanDays`. */
  now: Date;
  spanDays: number;
  labels: readonly string[];
  /** Real JPEG thumbnails to reuse: the stored size matters, not their content. */
  thumbnails: readonly Buffer[];
  model: ModelInfo;
  processedBy: string;
  /** Random numbers in [0, 1). */
  random: () => number;
}

const FORMATS: ImageFormat[] = ['jpeg', 'jpeg', 'jpeg', 'png', 'webp'];
const TOP_K = 5;

const pick = <T>(items: readonly T[], random: () => number) =>
  items[Math.floor(random() * items.length)] as T;

/**
 * The `index`-th of a seeded history: a finished prediction as the worker stores it, with
 * top-5 scores that fall and sum to at most 1, a thumbnail, timings, and a unique checksum.
 */
export function seedRecord(index: number, opts: SeedOptions): PredictionRecord {
  const { random, labels } = opts;
  const createdAt = new Date(opts.now.getTime() - random() * opts.spanDays * 24 * 3600 * 1000);
  const inferenceMs = 3 + random() * 10;
  const queuedMs = 5 + random() * 40;
  const batchSize = 1 + Math.floor(random() * 32);
  let left = 1;
  const scores = Array.from({ length: TOP_K }, () => {
    const score = left * (0.3 + 0.65 * random());
    left -= score;
    return score;
  }).sort((x, y) => y - x);
  const indexes = new Set<number>();
  while (indexes.size < TOP_K) indexes.add(1 + Math.floor(random() * (labels.length - 1)));
  const predictions = [...indexes].map((index, i) => ({
    index,
    label: labels[index] ?? `class ${index}`,
    score: scores[i] ?? 0,
  }));
  const width = 320 + Math.floor(random() * 3700);
  const format = pick(FORMATS, random);
  return {
    jobId: `seed-${createHash('sha256').update(`${opts.now.getTime()}:${index}`).digest('hex').slice(0, 32)}`,
    status: PredictionStatus.Completed,
    filename: `photo-${index}.${format === 'jpeg' ? 'jpg' : format}`,
    sha256: createHash('sha256').update(`seed:${opts.now.getTime()}:${index}`).digest('hex'),
    byteSize: 20_000 + Math.floor(random() * 4_000_000),
    width,
    height: Math.round(width * (0.5 + random() * 0.9)),
    format,
    thumbnail: pick(opts.thumbnails, random),
    predictions,
    model: { ...opts.model },
    timings: {
      queuedMs: Math.round(queuedMs),
      inferenceMs: Math.round(inferenceMs * 10) / 10,
      totalMs: Math.round(queuedMs + inferenceMs + 5),
      batchSize,
    },
    cached: false,
    processedBy: opts.processedBy,
    createdAt,
    finishedAt: new Date(createdAt.getTime() + queuedMs + inferenceMs + 5),
  };
}
