import { type PredictionRecord, PredictionStatus } from '@imagerec/shared';

/** A finished job as the worker stores one that failed: the smallest valid stored prediction. */
export const failedRecord = (jobId: string, over: Partial<PredictionRecord> = {}) => ({
  jobId,
  status: PredictionStatus.Failed,
  error: 'x',
  filename: `${jobId}.png`,
  sha256: 'x',
  byteSize: 1,
  width: 1,
  height: 1,
  format: 'png' as const,
  createdAt: new Date(),
  finishedAt: new Date(),
  ...over,
});
