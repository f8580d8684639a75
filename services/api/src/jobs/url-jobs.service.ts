import { randomUUID } from 'node:crypto';
import {
  type AppConfig,
  AppError,
  JobPriority,
  JobStatus,
  type JobView,
  MetricLabel,
  type ModelInfo,
  type OutboundClient,
  type ServiceMetrics,
} from '@imagerec/shared';
import { type Job, Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobService } from './job.service.js';
import type { SubmitOptions, SubmittedJob } from './submission.js';
import { cleanFilename } from './uploads.js';

/** An image URL waiting for its download; its BullMQ id is the id of the job it becomes. */
export interface FetchJobData {
  url: string;
  topK: number;
  acceptedAt: number;
  callbackUrl?: string;
  requestId?: string;
}

export type FetchJob = Job<FetchJobData>;

/** The label a job of a URL is shown under: the URL's last path segment, else its host. */
export const filenameOfUrl = (raw: string) => {
  const url = new URL(raw);
  const last = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  return cleanFilename(last || url.hostname);
};

/**
 * Images submitted by URL: accepted at once (202), fetched in the background through the guarded
 * client, then queued for inference like an upload under the same job id. A fetch that fails
 * fails the job with a code (FETCH_*, or an upload's own codes such as UNSUPPORTED_FORMAT).
 */
export class UrlJobService {
  readonly queue: Queue<FetchJobData>;

  constructor(
    redis: Redis,
    private readonly config: AppConfig,
    private readonly model: ModelInfo,
  ) {
    this.queue = new Queue(config.fetch.queueName, {
      connection: redis,
      defaultJobOptions: {
        // Only a backing service's outage is retried: a refused or oversized URL stays so.
        attempts: 3,
        backoff: { type: 'exponential', delay: 1000 },
        // Once fetched the classify queue has the job; a failed one is shown from here for a day.
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3600, count: 100_000 },
      },
    });
  }

  async submit(urls: string[], opts: Omit<SubmitOptions, 'priority'>): Promise<SubmittedJob[]> {
    // The same bound as uploads' on what waits; once fetched, a job meets the classify queue's.
    const waiting = await this.queue.getJobCountByTypes('wait', 'paused', 'delayed');
    const { maxQueueDepth } = this.config.api;
    if (waiting + urls.length > maxQueueDepth) {
      throw new AppError(
        'QUEUE_FULL',
        `${waiting} URLs are waiting to be fetched (at most ${maxQueueDepth}); retry later`,
      );
    }
    const acceptedAt = Date.now();
    const jobs = urls.map((url) => ({
      name: 'fetch',
      data: {
        url,
        topK: opts.topK,
        acceptedAt,
        ...(opts.callbackUrl && { callbackUrl: opts.callbackUrl }),
        ...(opts.requestId && { requestId: opts.requestId }),
      },
      opts: { jobId: randomUUID() },
    }));
    await this.queue.addBulk(jobs);
    return jobs.map((j) => ({ id: j.opts.jobId, status: JobStatus.Queued }));
  }

  /** A job while its image is fetched, or after the fetch failed. */
  async view(id: string): Promise<JobView | null> {
    // State first: a job read after it is at least as far along, so a failed one has its reason.
    const state = await this.queue.getJobState(id);
    const job = state === 'unknown' ? undefined : await this.queue.getJob(id);
    if (!job) return null;
    const failed = state === 'failed';
    const end = failed && job.finishedOn ? job.finishedOn : Date.now();
    const elapsed = end - job.data.acceptedAt;
    return {
      id,
      status: failed ? JobStatus.Failed : JobStatus.Queued,
      filename: filenameOfUrl(job.data.url),
      ...(failed && { error: job.failedReason }),
      model: { ...this.model },
      timings: { queuedMs: elapsed, inferenceMs: 0, totalMs: elapsed, batchSize: 0 },
      createdAt: new Date(job.data.acceptedAt).toISOString(),
      ...(failed && { finishedAt: new Date(end).toISOString() }),
    };
  }

  /** The BullMQ processor: download, then queue it for inference as an upload. */
  processor(client: OutboundClient, jobs: JobService, metrics: ServiceMetrics) {
    return async (job: FetchJob): Promise<void> => {
      const { url, topK, requestId, callbackUrl } = job.data;
      try {
        const res = await client.request({
          method: 'GET',
          url,
          maxBytes: this.config.api.maxUploadBytes,
          headers: { accept: 'image/*', 'user-agent': 'imagerec-fetch' },
        });
        if (res.status < 200 || res.status > 299) {
          throw new AppError('FETCH_FAILED', `${new URL(res.url).host} answered ${res.status}`);
        }
        await jobs.submit([{ filename: filenameOfUrl(url), bytes: res.body }], {
          ids: [String(job.id)],
          topK,
          priority: JobPriority.Bulk,
          requestId,
          callbackUrl,
        });
        metrics.urlFetches.inc({ [MetricLabel.Result]: 'ok' });
      } catch (err) {
        const code = err instanceof AppError ? err.code : 'FETCH_FAILED';
        const reason = `${code}: ${(err as Error).message}`;
        // A backing service that is down is not the URL's fault: the job is tried again.
        if (err instanceof AppError && err.status === 503) throw new Error(reason);
        metrics.urlFetches.inc({ [MetricLabel.Result]: code });
        throw new UnrecoverableError(reason);
      }
    };
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
