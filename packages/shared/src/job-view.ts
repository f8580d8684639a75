import { type PredictionRecord, PredictionStatus } from './db/prediction.schema.js';
import {
  type ClassifyJobData,
  type ClassifyResult,
  JobStatus,
  type ModelInfo,
  type Prediction,
  type Timings,
} from './queue/contract.js';

/** The error of a failed job that kept no reason: a failed view always says something. */
const NO_REASON = 'failed';

/** What GET /v1/jobs/:id answers, and what a webhook delivers. */
export interface JobView {
  id: string;
  status: JobStatus;
  filename: string;
  predictions?: Prediction[];
  error?: string;
  cached?: boolean;
  model: ModelInfo;
  timings: Timings;
  createdAt: string;
  finishedAt?: string;
}

/** The parts of a BullMQ job the view needs, so the mapping stays a pure function. */
export interface QueuedJobSnapshot {
  id: string;
  state: string;
  data: ClassifyJobData;
  returnvalue?: ClassifyResult | null;
  failedReason?: string;
  finishedOn?: number;
}

const STATE_TO_STATUS: Record<string, JobStatus> = {
  active: JobStatus.Active,
  completed: JobStatus.Completed,
  failed: JobStatus.Failed,
};

export const isFinished = (status: JobStatus) =>
  status === JobStatus.Completed || status === JobStatus.Failed;

/** `model` stands for the model that will answer, while the job has no result yet. */
export function viewFromQueue(
  job: QueuedJobSnapshot,
  topK: number,
  model: ModelInfo,
  now = Date.now(),
): JobView {
  const status = STATE_TO_STATUS[job.state] ?? JobStatus.Queued;
  const result = status === JobStatus.Completed ? job.returnvalue : undefined;
  const elapsed = (job.finishedOn ?? now) - job.data.acceptedAt;
  return {
    id: job.id,
    status,
    filename: job.data.upload.filename,
    ...(result && { predictions: result.predictions.slice(0, topK), cached: result.cached }),
    ...(status === JobStatus.Failed && { error: job.failedReason ?? NO_REASON }),
    model: result?.model ?? { ...model },
    // While a job waits, its timings say how long it has waited so far.
    timings: result?.timings ?? {
      queuedMs: elapsed,
      inferenceMs: 0,
      totalMs: elapsed,
      batchSize: 0,
    },
    createdAt: new Date(job.data.acceptedAt).toISOString(),
    ...(isFinished(status) &&
      job.finishedOn && { finishedAt: new Date(job.finishedOn).toISOString() }),
  };
}

export function viewFromRecord(record: PredictionRecord, topK: number, model: ModelInfo): JobView {
  const completed = record.status === PredictionStatus.Completed;
  return {
    id: record.jobId,
    status: completed ? JobStatus.Completed : JobStatus.Failed,
    filename: record.filename,
    ...(completed && {
      predictions: (record.predictions ?? []).slice(0, topK),
      cached: !!record.cached,
    }),
    ...(!completed && { error: record.error ?? NO_REASON }),
    model: record.model ?? { ...model },
    timings: record.timings ?? { queuedMs: 0, inferenceMs: 0, totalMs: 0, batchSize: 0 },
    createdAt: record.createdAt.toISOString(),
    finishedAt: record.finishedAt.toISOString(),
  };
}
