import { createHash, randomUUID } from 'node:crypto';
import {
  type ClassifyJobData,
  type JobPriority,
  JobStatus,
  type ModelInfo,
  type NewClassifyJob,
  type Prediction,
  type PredictionRecord,
  PredictionStatus,
  type PreparedImage,
} from '@imagerec/shared';
import { joinKey } from './join-key.js';

export interface Upload {
  filename: string;
  bytes: Buffer;
}

export interface SubmitOptions {
  topK: number;
  priority: JobPriority;
  ids?: string[];
  /** The HTTP request's id, carried into the job so the worker's log lines name it too. */
  requestId?: string;
  /** Epoch ms after which nobody waits for the answer (a synchronous predict). */
  deadline?: number;
  /** Where each job's view is POSTed once it has finished. */
  callbackUrl?: string;
}

export interface SubmittedJob {
  id: string;
  status: JobStatus;
  /** What was queued; none for a job answered from the cache or one that joined a running job. */
  data?: ClassifyJobData;
}

/** An upload checked and preprocessed, under the id its job gets. */
export interface PreparedUpload {
  id: string;
  filename: string;
  byteSize: number;
  sha256: string;
  image: PreparedImage;
}

/** Every upload checked and preprocessed by `decode`; the first bad one refuses them all. */
export const prepareUploads = (
  uploads: Upload[],
  ids: string[] | undefined,
  decode: (bytes: Buffer) => Promise<PreparedImage>,
): Promise<PreparedUpload[]> =>
  Promise.all(
    uploads.map(async ({ filename, bytes }, i) => ({
      id: ids?.[i] ?? randomUUID(),
      filename,
      byteSize: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      image: await decode(bytes),
    })),
  );

const uploadInfo = ({ filename, sha256, byteSize, image }: PreparedUpload) => ({
  filename,
  sha256,
  byteSize,
  width: image.width,
  height: image.height,
  format: image.format,
});

/** The finished record of an upload the cache answered with `predictions`. */
export function cachedRecord(
  p: PreparedUpload,
  predictions: Prediction[],
  model: ModelInfo,
  acceptedAt: number,
  now = Date.now(),
): PredictionRecord {
  return {
    ...uploadInfo(p),
    jobId: p.id,
    status: PredictionStatus.Completed,
    thumbnail: p.image.thumbnail,
    predictions,
    model: { ...model },
    timings: { queuedMs: 0, inferenceMs: 0, totalMs: now - acceptedAt, batchSize: 0 },
    cached: true,
    createdAt: new Date(acceptedAt),
    finishedAt: new Date(now),
  };
}

/** The classify job of an upload the cache did not answer. */
export const newJob = (
  p: PreparedUpload,
  opts: SubmitOptions,
  modelVersion: string,
  acceptedAt: number,
): NewClassifyJob => ({
  id: p.id,
  pixels: p.image.pixels,
  priority: opts.priority,
  joinKey: joinKey({ ...opts, sha256: p.sha256, modelVersion }),
  data: {
    upload: uploadInfo(p),
    thumbnail: p.image.thumbnail.toString('base64'),
    topK: opts.topK,
    acceptedAt,
    ...(opts.requestId && { requestId: opts.requestId }),
    ...(opts.deadline !== undefined && { deadline: opts.deadline }),
    ...(opts.callbackUrl && { callbackUrl: opts.callbackUrl }),
  },
});

/**
 * Each upload's job, in the order given: completed where the cache answered, else its own job,
 * or the running job for the same content that it joined (`queuedIds`, in the order of `jobs`).
 */
export function submittedJobs(
  prepared: PreparedUpload[],
  jobs: NewClassifyJob[],
  queuedIds: string[],
): SubmittedJob[] {
  const queued = new Map(jobs.map((j, i) => [j.id, { ...j, id: queuedIds[i] ?? j.id }]));
  return prepared.map(({ id }) => {
    const job = queued.get(id);
    if (!job) return { id, status: JobStatus.Completed };
    return job.id === id
      ? { id, status: JobStatus.Queued, data: job.data }
      : { id: job.id, status: JobStatus.Queued };
  });
}
