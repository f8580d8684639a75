import {
  type ClassifyJobData,
  MODEL_SPEC,
  modelInfo,
  type PixelStore,
  type PredictionRecord,
  ServiceMetrics,
  ServiceName,
  type WebhookJobData,
} from '@imagerec/shared';
import { pino } from 'pino';
import { vi } from 'vitest';
import { type ClassifyJob, ClassifyProcessor } from './classify.processor.js';

// The processor with its stores, model and webhook queue as in-memory fakes.
export const silent = pino({ level: 'silent' });

export const data = (topK = 3): ClassifyJobData => ({
  upload: {
    filename: 'cat.png',
    sha256: 'ab'.repeat(32),
    byteSize: 1000,
    width: 512,
    height: 341,
    format: 'png',
  },
  thumbnail: Buffer.from('thumb').toString('base64'),
  topK,
  acceptedAt: Date.now() - 100,
});

export const job = (id: string, jobData = data(), attemptsMade = 0, attempts = 3) =>
  ({ id, data: jobData, attemptsMade, opts: { attempts } }) as unknown as ClassifyJob;

export function setup(opts: { upsertMany?: (records: PredictionRecord[]) => Promise<void> } = {}) {
  const pixels = new Map<string, Buffer>();
  const pixelStore = {
    getMany: async (ids: string[]) => ids.map((id) => pixels.get(id) ?? null),
    deleteMany: vi.fn(async (ids: string[]) => {
      for (const id of ids) pixels.delete(id);
    }),
  };
  const stored: PredictionRecord[] = [];
  const upsertMany = vi.fn(
    opts.upsertMany ??
      (async (records: PredictionRecord[]) => {
        stored.push(...records);
      }),
  );
  const metrics = new ServiceMetrics(ServiceName.Worker);
  const webhooks = { enqueue: vi.fn(async (_deliveries: WebhookJobData[]) => {}) };
  const classify = vi.fn(async (images: Uint8Array[], topK: number) => ({
    predictions: images.map((_, i) =>
      Array.from({ length: topK }, (_, k) => ({ index: i * 10 + k, label: `l${k}`, score: 0.5 })),
    ),
    inferenceMs: 12,
  }));
  const processor = new ClassifyProcessor({
    pixels: pixelStore as unknown as PixelStore,
    results: {
      upsertMany,
      findByJobId: async (id: string) => stored.findLast((r) => r.jobId === id) ?? null,
    },
    classify,
    maxBatch: 4,
    maxBatchDelayMs: 5,
    model: modelInfo('int8'),
    processedBy: 'host:1',
    log: silent,
    metrics,
    precision: 'int8',
    webhooks,
  });
  const withPixels = (id: string, bytes = MODEL_SPEC.inputBytes) =>
    pixels.set(id, Buffer.alloc(bytes));
  return {
    processor,
    pixels,
    pixelStore,
    stored,
    upsertMany,
    classify,
    withPixels,
    metrics,
    webhooks,
  };
}
