import { randomUUID } from 'node:crypto';
import {
  type AppConfig,
  AppError,
  CacheResult,
  type ClassifyJobData,
  type ClassifyQueue,
  type ClassifyResult,
  deliveriesOf,
  isFinished,
  JobPriority,
  type JobView,
  MetricLabel,
  type ModelInfo,
  modelInfo,
  type NewClassifyJob,
  type PredictionRecord,
  type PredictionRepository,
  RefusalReason,
  type ServiceMetrics,
  viewFromQueue,
  viewFromRecord,
  type WebhookQueue,
} from '@imagerec/shared';
import { DecodeQueue } from './decode-queue.js';
import type { JobWaiters } from './job-waiters.js';
import { QueueDepth } from './queue-depth.js';
import {
  cachedRecord,
  newJob,
  prepareUploads,
  type SubmitOptions,
  type SubmittedJob,
  submittedJobs,
  type Upload,
} from './submission.js';

/** How old a count of waiting jobs may be for admission to accept on it (see QueueDepth). */
const DEPTH_MAX_AGE_MS = 100;

/** A synchronous predict: what it asks, and whom to tell once its upload is queued. */
export interface PredictOptions {
  topK: number;
  timeoutMs: number;
  requestId?: string;
  callbackUrl?: string;
  /** Called once the upload is queued or refused: its bytes are no longer needed. */
  submitted?: () => void;
}

/** A job accepted but not finished yet, as the history page shows it. */
export interface PendingJob {
  jobId: string;
  filename: string;
  width: number;
  height: number;
  format: string;
  /** JPEG preview, base64. */
  thumbnail: string;
  createdAt: Date;
}

export interface JobServiceDeps {
  config: AppConfig;
  queue: ClassifyQueue;
  repository: PredictionRepository;
  waiters: JobWaiters;
  metrics: ServiceMetrics;
  /** Where the webhooks of jobs answered from the cache are queued. */
  webhooks: Pick<WebhookQueue, 'enqueue'>;
  /** Jobs not in the classify queue nor stored yet: images by URL still being fetched. */
  fetching?: { view(id: string): Promise<JobView | null> };
}

/** What the service counts, for logs and metrics. */
export interface JobServiceStats {
  /** Submissions refused because more than MAX_QUEUE_DEPTH jobs were waiting. */
  admissionRefused: number;
}

/** Accepting uploads and answering for their jobs, from Redis while they live there, then MongoDB. */
export class JobService {
  readonly stats: JobServiceStats = { admissionRefused: 0 };
  /** The model this API's results are cached under; workers are configured alike. */
  private readonly model: ModelInfo;
  private readonly depth: QueueDepth;
  private readonly decodes: DecodeQueue;

  constructor(private readonly deps: JobServiceDeps) {
    this.model = modelInfo(deps.config.model.precision);
    this.decodes = new DecodeQueue(deps.config.api.maxPixels);
    this.depth = new QueueDepth(
      () => deps.queue.bull.getJobCountByTypes('wait', 'prioritized', 'delayed'),
      DEPTH_MAX_AGE_MS,
    );
  }

  /**
   * Admission control: a submission that would take the waiting jobs past MAX_QUEUE_DEPTH is
   * refused at once (503, Retry-After), so a backlog stays bounded instead of growing without end.
   */
  private async admit(count: number): Promise<void> {
    const { admitted, waiting } = await this.depth.admits(
      count,
      this.deps.config.api.maxQueueDepth,
    );
    if (!admitted) {
      this.stats.admissionRefused++;
      this.deps.metrics.jobsRefused.inc({ [MetricLabel.Reason]: RefusalReason.QueueFull });
      throw new AppError(
        'QUEUE_FULL',
        `${waiting} jobs are waiting (at most ${this.deps.config.api.maxQueueDepth}); retry later`,
      );
    }
  }

  /**
   * Every upload is checked and preprocessed before anything is queued: one bad file
   * refuses the whole request and nothing of it is accepted.
   */
  async submit(uploads: Upload[], opts: SubmitOptions): Promise<SubmittedJob[]> {
    const { config, queue, repository, metrics } = this.deps;
    await this.admit(uploads.length);
    const acceptedAt = Date.now();
    const prepared = await prepareUploads(uploads, opts.ids, (bytes) =>
      this.decodes.decode(bytes, opts.priority),
    );

    const cachedRecords: PredictionRecord[] = [];
    const jobs: NewClassifyJob[] = [];
    for (const p of prepared) {
      const hit = config.api.cacheResults
        ? await repository.findCachedPredictions(p.sha256, this.model.version)
        : null;
      if (config.api.cacheResults) {
        metrics.cacheLookups.inc({
          [MetricLabel.Result]: hit ? CacheResult.Hit : CacheResult.Miss,
        });
      }
      if (hit && hit.length >= opts.topK) {
        cachedRecords.push(cachedRecord(p, hit, this.model, acceptedAt));
      } else {
        jobs.push(newJob(p, opts, this.model.version, acceptedAt));
      }
    }
    if (cachedRecords.length > 0) {
      await metrics.time(metrics.mongoWriteDuration, () => repository.upsertMany(cachedRecords));
      await this.deps.webhooks.enqueue(
        deliveriesOf(
          cachedRecords.map((record) => ({ jobId: record.jobId, data: opts, record })),
          this.model,
        ),
      );
    }
    const queuedIds = jobs.length > 0 ? await queue.enqueue(jobs) : [];
    this.depth.added(queuedIds.length);
    return submittedJobs(prepared, jobs, queuedIds);
  }

  async get(id: string, topK: number): Promise<JobView | null> {
    return (await this.read(id, topK)).view;
  }

  /** The job's view, and its queued data while Redis still holds the job. */
  private async read(
    id: string,
    topK: number,
  ): Promise<{ view: JobView | null; data?: ClassifyJobData }> {
    const queue = this.deps.queue.bull;
    // State first: a job read after its state is at least as far along, so a job seen as
    // completed always carries its result.
    const state = await queue.getJobState(id);
    const job = state === 'unknown' ? undefined : await queue.getJob(id);
    if (job) {
      const view = viewFromQueue(
        {
          id,
          state,
          data: job.data,
          returnvalue: job.returnvalue,
          failedReason: job.failedReason,
          finishedOn: job.finishedOn,
        },
        topK,
        this.model,
      );
      return { view, data: job.data };
    }
    // Not in Redis (never, or removed once finished): MongoDB has it then.
    const record = await this.deps.repository.findByJobId(id);
    if (record) return { view: viewFromRecord(record, topK, this.model) };
    return { view: (await this.deps.fetching?.view(id)) ?? null };
  }

  /** A completed job's view from its queued data and the result its completed event carried. */
  private completedView(
    id: string,
    data: ClassifyJobData,
    result: ClassifyResult,
    topK: number,
  ): JobView {
    const snapshot = { id, state: 'completed', data, returnvalue: result, finishedOn: Date.now() };
    return viewFromQueue(snapshot, topK, this.model);
  }

  /** Those of `ids` still waiting or running in the queue, in the order given. */
  async pending(ids: string[]): Promise<PendingJob[]> {
    const jobs = await Promise.all(
      ids.map(async (id) => {
        const job = await this.deps.queue.bull.getJob(id);
        const state = job && (await job.getState());
        if (!job || state === 'completed' || state === 'failed' || state === 'unknown') return null;
        const { upload, thumbnail, acceptedAt } = job.data;
        return {
          jobId: id,
          filename: upload.filename,
          width: upload.width,
          height: upload.height,
          format: upload.format,
          thumbnail,
          createdAt: new Date(acceptedAt),
        };
      }),
    );
    return jobs.filter((j) => j !== null);
  }

  /** The job's thumbnail: in its queue entry from acceptance on, in MongoDB once finished. */
  async thumbnail(id: string): Promise<Buffer | null> {
    const job = await this.deps.queue.bull.getJob(id);
    if (job?.data.thumbnail) return Buffer.from(job.data.thumbnail, 'base64');
    const record = await this.deps.repository.findByJobId(id);
    return record?.thumbnail ?? null;
  }

  /**
   * The job's view once it has finished, or its current view when `waitMs` runs out.
   * Each round registers its waiter before reading the state, so no change slips between.
   */
  async waitFor(
    id: string,
    topK: number,
    waitMs: number,
    registered?: ReturnType<JobWaiters['register']>,
  ): Promise<JobView | null> {
    const deadline = Date.now() + waitMs;
    let waiter = registered;
    for (;;) {
      waiter ??= this.deps.waiters.register(id, deadline - Date.now());
      const { view, data } = await this.read(id, topK);
      if (
        !view ||
        isFinished(view.status) ||
        Date.now() >= deadline ||
        this.deps.waiters.isStopped
      ) {
        waiter.cancel();
        return view;
      }
      const outcome = await waiter.done;
      // The completed event carries the result: with the data read above, no second read.
      if (outcome?.state === 'completed' && data) {
        return this.completedView(id, data, outcome.result, topK);
      }
      waiter = undefined;
    }
  }

  /**
   * Submits one upload at interactive priority and waits up to `timeoutMs` for its answer. The
   * queue's completed event carries the result, so the answer needs no read of Redis; any other
   * ending (failed, timed out, shutdown) is answered from the job's state.
   */
  async predict(upload: Upload, opts: PredictOptions): Promise<JobView> {
    const { topK, timeoutMs, requestId, callbackUrl } = opts;
    const id = randomUUID();
    const acceptedAt = Date.now();
    // Registered before the job exists, so even an instant answer is not missed; shutdown lets
    // it wait for the answer while the API drains.
    const waiter = this.deps.waiters.register(id, timeoutMs, { drain: true });
    let job: SubmittedJob | undefined;
    try {
      [job] = await this.submit([upload], {
        topK,
        priority: JobPriority.Interactive,
        ids: [id],
        requestId,
        deadline: acceptedAt + timeoutMs,
        callbackUrl,
      });
    } catch (err) {
      waiter.cancel();
      throw err;
    } finally {
      opts.submitted?.();
    }
    if (job && job.id !== id) {
      // Joined a running job for the same content: its answer is this one's.
      waiter.cancel();
      const left = Math.max(0, acceptedAt + timeoutMs - Date.now());
      const view = await this.waitFor(job.id, topK, left);
      if (view) return view;
    } else if (job?.data) {
      const outcome = await waiter.done;
      if (outcome?.state === 'completed')
        return this.completedView(id, job.data, outcome.result, topK);
    } else {
      waiter.cancel();
    }
    const jobId = job?.id ?? id;
    const view = await this.get(jobId, topK);
    if (!view) throw new Error(`Job ${jobId} vanished after it was accepted`);
    return view;
  }
}
