import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Every metric the services export; the Grafana dashboard and scripts/check-deploy use these names. */
export enum MetricName {
  HttpRequestDuration = 'imagerec_http_request_duration_seconds',
  QueueJobs = 'imagerec_queue_jobs',
  JobWait = 'imagerec_job_wait_seconds',
  InferenceDuration = 'imagerec_inference_duration_seconds',
  BatchSize = 'imagerec_batch_size',
  ImagesClassified = 'imagerec_images_classified_total',
  ModelLoad = 'imagerec_model_load_seconds',
  MongoWriteDuration = 'imagerec_mongo_write_duration_seconds',
  JobsRefused = 'imagerec_jobs_refused_total',
  JobsExpired = 'imagerec_jobs_expired_total',
  CacheLookups = 'imagerec_cache_lookups_total',
  WebhookDeliveries = 'imagerec_webhook_deliveries_total',
  UrlFetches = 'imagerec_url_fetches_total',
}

export enum MetricLabel {
  Service = 'service',
  Method = 'method',
  Route = 'route',
  StatusCode = 'status_code',
  State = 'state',
  Precision = 'precision',
  Result = 'result',
  Reason = 'reason',
}

/** Why admission control refused an upload (the `reason` of imagerec_jobs_refused_total). */
export enum RefusalReason {
  QueueFull = 'QUEUE_FULL',
}

export enum ServiceName {
  Api = 'api',
  Worker = 'worker',
}

/** The BullMQ states queue depth is reported for. */
export const QUEUE_DEPTH_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'failed',
] as const;
export type QueueDepthState = (typeof QUEUE_DEPTH_STATES)[number];

/** Outcomes of one webhook delivery attempt. */
export enum DeliveryResult {
  Delivered = 'delivered',
  /** The attempt failed and another one is scheduled. */
  Retrying = 'retrying',
  /** The last attempt failed: the delivery waits in the failed set for an operator. */
  DeadLettered = 'dead_lettered',
}

export enum CacheResult {
  Hit = 'hit',
  Miss = 'miss',
}

/** The route label of requests no route matched, so unknown paths cannot grow the label set. */
export const UNMATCHED_ROUTE = 'unmatched';

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/**
 * One process's metrics in a registry of its own, prom-client's process and Node.js metrics
 * (CPU, memory, event loop) included. API and worker register the same set, labelled by
 * service, so a counter can be incremented wherever its feature lives.
 */
export class ServiceMetrics {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: MetricName.HttpRequestDuration,
    help: 'HTTP request duration by route and status, seconds',
    labelNames: [MetricLabel.Method, MetricLabel.Route, MetricLabel.StatusCode],
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  private queueCounts?: () => Promise<Partial<Record<QueueDepthState, number>>>;

  readonly queueJobs = new Gauge({
    name: MetricName.QueueJobs,
    help: 'Jobs in the classify queue by state, read from Redis at each scrape',
    labelNames: [MetricLabel.State],
    registers: [this.registry],
    // Read when Prometheus scrapes rather than kept up to date between scrapes.
    collect: async () => {
      if (!this.queueCounts) return;
      const byState = await this.queueCounts();
      for (const state of QUEUE_DEPTH_STATES)
        this.queueJobs.set({ [MetricLabel.State]: state }, byState[state] ?? 0);
    },
  });

  readonly jobWait = new Histogram({
    name: MetricName.JobWait,
    help: 'Time from the API accepting an upload to the start of its inference batch, seconds',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly inferenceDuration = new Histogram({
    name: MetricName.InferenceDuration,
    help: 'Duration of one batched inference call, seconds',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: MetricName.BatchSize,
    help: 'Images per inference batch (mean batch = sum / count)',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly imagesClassified = new Counter({
    name: MetricName.ImagesClassified,
    help: 'Images classified by the model, by model precision',
    labelNames: [MetricLabel.Precision],
    registers: [this.registry],
  });

  readonly modelLoad = new Gauge({
    name: MetricName.ModelLoad,
    help: 'Time the worker took to prepare the model and warm up its inference thread, seconds',
    registers: [this.registry],
  });

  readonly mongoWriteDuration = new Histogram({
    name: MetricName.MongoWriteDuration,
    help: 'Duration of one write of results to MongoDB, seconds',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly jobsRefused = new Counter({
    name: MetricName.JobsRefused,
    help: 'Uploads refused by admission control, by reason',
    labelNames: [MetricLabel.Reason],
    registers: [this.registry],
  });

  readonly jobsExpired = new Counter({
    name: MetricName.JobsExpired,
    help: 'Jobs dropped because they waited longer than they may',
    registers: [this.registry],
  });

  readonly cacheLookups = new Counter({
    name: MetricName.CacheLookups,
    help: 'Result cache lookups of uploads, by hit or miss',
    labelNames: [MetricLabel.Result],
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: MetricName.WebhookDeliveries,
    help: 'Webhook delivery attempts, by result (delivered, retrying, dead_lettered)',
    labelNames: [MetricLabel.Result],
    registers: [this.registry],
  });

  readonly urlFetches = new Counter({
    name: MetricName.UrlFetches,
    help: 'Images fetched by URL, by result (ok or the error code)',
    labelNames: [MetricLabel.Result],
    registers: [this.registry],
  });

  constructor(service: ServiceName) {
    this.registry.setDefaultLabels({ [MetricLabel.Service]: service });
    collectDefaultMetrics({ register: this.registry });
    // Present from the start, so rates over them exist before the first event.
    for (const result of Object.values(CacheResult))
      this.cacheLookups.inc({ [MetricLabel.Result]: result }, 0);
    this.jobsExpired.inc(0);
    for (const reason of Object.values(RefusalReason))
      this.jobsRefused.inc({ [MetricLabel.Reason]: reason }, 0);
    for (const result of Object.values(DeliveryResult))
      this.webhookDeliveries.inc({ [MetricLabel.Result]: result }, 0);
  }

  /** Where queue depth is read from at each scrape (e.g. BullMQ's Queue.getJobCounts). */
  trackQueue(counts: () => Promise<Partial<Record<QueueDepthState, number>>>): void {
    this.queueCounts = counts;
  }

  /** Times `work` into a histogram; the observation is made whether it succeeds or not. */
  async time<T>(histogram: Histogram, work: () => Promise<T>): Promise<T> {
    const end = histogram.startTimer();
    try {
      return await work();
    } finally {
      end();
    }
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
