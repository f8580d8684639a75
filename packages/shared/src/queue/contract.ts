/** Queues shared by the API (producer) and the worker (consumer). */
export enum QueueName {
  Classify = 'classify',
  /** Webhook deliveries, apart so a slow receiver never holds up inference. */
  Webhook = 'webhook',
  /** Images submitted by URL, waiting for their download. */
  Fetch = 'fetch',
}

/**
 * The name of a queue that serves the classify queue `classifyName`: the plain kind for the
 * default queue, prefixed for any other (each test's queue gets its own webhook and fetch queues).
 */
export const relatedQueueName = (classifyName: string, kind: QueueName) =>
  classifyName === QueueName.Classify ? kind : `${classifyName}-${kind}`;

export enum JobName {
  Classify = 'classify',
}

/** BullMQ priorities: a lower number is served first. */
export enum JobPriority {
  Interactive = 1,
  Bulk = 10,
}

export enum JobStatus {
  Queued = 'queued',
  Active = 'active',
  Completed = 'completed',
  Failed = 'failed',
}

/** The image formats an upload may have (detected by their bytes), each by its usual name. */
export const IMAGE_FORMATS = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  tiff: 'TIFF',
  avif: 'AVIF',
  bmp: 'BMP',
} as const;
export type ImageFormat = keyof typeof IMAGE_FORMATS;

/** What the API knows about an accepted upload; the original bytes are not kept. */
export interface UploadInfo {
  filename: string;
  sha256: string;
  byteSize: number;
  width: number;
  height: number;
  format: ImageFormat;
}

/** Job payload. The 224x224 RGB pixels wait in Redis (./payload.ts), not in the job. */
export interface ClassifyJobData {
  upload: UploadInfo;
  /** Small JPEG preview for the history page, base64. */
  thumbnail: string;
  topK: number;
  /** Epoch ms when the API accepted the upload. */
  acceptedAt: number;
  /** The id of the HTTP request that uploaded it (nginx's X-Request-Id), for tracing it in logs. */
  requestId?: string;
  /**
   * Epoch ms after which nobody waits for the answer (a synchronous predict's timeoutMs):
   * a worker that takes the job later skips it and marks it expired.
   */
  deadline?: number;
  /** Where the job's view is POSTed (a signed webhook) once it has finished. */
  callbackUrl?: string;
}

/** The failure reason of a job skipped because its deadline had passed. */
export const EXPIRED_REASON = 'Expired: its deadline passed before a worker took it';

export interface Prediction {
  index: number;
  label: string;
  score: number;
}

export interface Timings {
  queuedMs: number;
  inferenceMs: number;
  totalMs: number;
  batchSize: number;
}

export interface ModelInfo {
  name: string;
  /** The source file's SHA-256 and the precision, so results of other models never mix. */
  version: string;
}

/** What a finished job returns; also what the results store keeps. */
export interface ClassifyResult {
  predictions: Prediction[];
  model: ModelInfo;
  timings: Timings;
  cached: boolean;
  /** Which worker process ran it (host:pid); shows how load spreads over workers. */
  processedBy: string;
}
