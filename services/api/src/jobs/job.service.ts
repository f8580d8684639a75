import { createHash, randomUUID } from 'node:crypto';
import {
  type AppConfig,
  AppError,
  type ClassifyQueue,
  JobPriority,
  JobStatus,
  MODEL_INFO,
  type NewClassifyJob,
  type PredictionRecord,
  type PredictionRepository,
  PredictionStatus,
  prepareUpload,
} from '@imagerec/shared';
import { isFinished, type JobView, viewFromQueue, viewFromRecord } from './job.view.js';
import type { JobWaiters } from './job-waiters.js';

export interface Upload {
  filename: string;
  bytes: Buffer;
}

export interface SubmittedJob {
  id: string;
  status: JobStatus;
}

export interface JobServiceDeps {
  config: AppConfig;
  queue: ClassifyQueue;
  repository: PredictionRepository;
  waiters: JobWaiters;
}

/** What the service counts, for logs and metrics. */
export interface JobServiceStats {
  /** Submissions refused because more than MAX_QUEUE_DEPTH jobs were waiting. */
  admissionRefused: number;
}

/** Accepting uploads and answering for their jobs, from Redis while they live there, then MongoDB. */
export class JobService {
  readonly stats: JobServiceStats = { admissionRefused: 0 };

  constructor(private readonly deps: JobServiceDeps) {}

  /**
   * Admission control: a submission that would take the waiting jobs past MAX_QUEUE_DEPTH is
   * refused at once (503, Retry-After), so a backlog stays bounded instead of growing without end.
   */
  private async admit(count: number): Promise<void> {
    const waiting = await this.deps.queue.queue.getJobCountByTypes(
      'wait',
      'prioritized',
      'delayed',
    );
    if (waiting + count > this.deps.config.api.maxQueueDepth) {
      this.stats.admissionRefused++;
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
  async submit(
    uploads: Upload[],
    opts: { topK: number; priority: JobPriority; ids?: string[]; deadline?: number },
  ): Promise<SubmittedJob[]> {
    const { config, queue, repository } = this.deps;
    await this.admit(uploads.length);
    const acceptedAt = Date.now();
    const prepared = await Promise.all(
      uploads.map(async ({ filename, bytes }, i) => ({
        id: opts.ids?.[i] ?? randomUUID(),
        filename,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        image: await prepareUpload(bytes, { maxPixels: config.api.maxPixels }),
      })),
    );

    const cachedRecords: PredictionRecord[] = [];
    const jobs: NewClassifyJob[] = [];
    for (const p of prepared) {
      const upload = {
        filename: p.filename,
        sha256: p.sha256,
        byteSize: p.bytes,
        width: p.image.width,
        height: p.image.height,
        format: p.image.format,
      };
      const hit = config.api.cacheResults
        ? await repository.findCachedPredictions(p.sha256, MODEL_INFO.version)
        : null;
      if (hit && hit.length >= opts.topK) {
        const now = Date.now();
        cachedRecords.push({
          ...upload,
          jobId: p.id,
          status: PredictionStatus.Completed,
          thumbnail: p.image.thumbnail,
          predictions: hit,
          model: { ...MODEL_INFO },
          timings: { queuedMs: 0, inferenceMs: 0, totalMs: now - acceptedAt, batchSize: 0 },
          cached: true,
          createdAt: new Date(acceptedAt),
          finishedAt: new Date(now),
        });
        continue;
      }
      jobs.push({
        id: p.id,
        pixels: p.image.pixels,
        priority: opts.priority,
        data: {
          upload,
          thumbnail: p.image.thumbnail.toString('base64'),
          topK: opts.topK,
          acceptedAt,
          ...(opts.deadline !== undefined && { deadline: opts.deadline }),
        },
      });
    }
    await repository.upsertMany(cachedRecords);
    if (jobs.length > 0) await queue.enqueue(jobs);
    const cachedIds = new Set(cachedRecords.map((r) => r.jobId));
    return prepared.map(({ id }) => ({
      id,
      status: cachedIds.has(id) ? JobStatus.Completed : JobStatus.Queued,
    }));
  }

  async get(id: string, topK: number): Promise<JobView | null> {
    const job = await this.deps.queue.queue.getJob(id);
    if (job) {
      const state = await job.getState();
      // 'unknown': removed between the two reads; MongoDB has it by then.
      if (state !== 'unknown') {
        return viewFromQueue(
          {
            id,
            state,
            data: job.data,
            returnvalue: job.returnvalue,
            failedReason: job.failedReason,
            finishedOn: job.finishedOn,
          },
          topK,
        );
      }
    }
    const record = await this.deps.repository.findByJobId(id);
    return record && viewFromRecord(record, topK);
  }

  /** The job's WebP thumbnail: in its queue entry from acceptance on, in MongoDB once finished. */
  async thumbnail(id: string): Promise<Buffer | null> {
    const job = await this.deps.queue.queue.getJob(id);
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
      const view = await this.get(id, topK);
      if (
        !view ||
        isFinished(view.status) ||
        Date.now() >= deadline ||
        this.deps.waiters.isStopped
      ) {
        waiter.cancel();
        return view;
      }
      await waiter.done;
      waiter = undefined;
    }
  }

  /** Submits one upload at interactive priority and waits up to `timeoutMs` for its answer. */
  async predict(upload: Upload, topK: number, timeoutMs: number): Promise<JobView> {
    const id = randomUUID();
    // Registered before the job exists, so even an instant answer is not missed.
    const waiter = this.deps.waiters.register(id, timeoutMs);
    try {
      await this.submit([upload], {
        topK,
        priority: JobPriority.Interactive,
        ids: [id],
        deadline: Date.now() + timeoutMs,
      });
    } catch (err) {
      waiter.cancel();
      throw err;
    }
    const view = await this.waitFor(id, topK, timeoutMs, waiter);
    if (!view) throw new Error(`Job ${id} vanished after it was accepted`);
    return view;
  }
}
