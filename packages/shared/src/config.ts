import { isIP } from 'node:net';
import { z } from 'zod';
import { MODEL_PRECISIONS } from './model-spec.js';
import { QueueName, relatedQueueName } from './queue/contract.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);

/** MAX_PIXELS' default, also the limit of callers without a config (benchmarks, the oracle). */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/**
 * Every environment variable the services read, with its default and meaning.
 * The README's configuration table lists the same (a unit test keeps them in step).
 */
export const envSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .describe('development, production or test'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level of the JSON logs (pino levels)'),
  REDIS_URL: z
    .url()
    .default('redis://127.0.0.1:6379')
    .describe('Redis holding the BullMQ queue and the preprocessed pixels'),
  MONGODB_URL: z
    .string()
    .startsWith('mongodb')
    .default('mongodb://127.0.0.1:27017/imagerec')
    .describe('MongoDB (or FerretDB) connection string; the database name is part of it'),
  MONGO_TIMEOUT_MS: int(100, 60_000)
    .default(500)
    .describe('How long a MongoDB operation waits for a reachable server before it fails, ms'),
  QUEUE_NAME: z
    .string()
    .min(1)
    .default(QueueName.Classify)
    .describe('Queue name; tests give each run its own'),
  API_HOST: z.string().default('127.0.0.1').describe('Address the API listens on'),
  API_PORT: int(0, 65535).default(3000).describe('Port the API listens on'),
  PUBLIC_BASE_URL: z
    .string()
    .default('')
    .describe('Public base URL used in statusUrl links; empty means relative links'),
  MAX_UPLOAD_BYTES: int(1, 1 << 30)
    .default(10 * 1024 * 1024)
    .describe('Largest accepted upload, bytes (nginx allows the same body size)'),
  MAX_FILES: int(1, 256).default(16).describe('Most files in one POST /v1/jobs'),
  MAX_PIXELS: int(1, 1_000_000_000)
    .default(DEFAULT_MAX_PIXELS)
    .describe('Largest decoded image, pixels (guards against decompression bombs)'),
  UPLOAD_BUDGET_BYTES: int(1 << 20, 1 << 30)
    .default(16 * 1024 * 1024)
    .describe(
      'Upload bytes (by Content-Length) an API process reads and decodes at once; more wait their turn, interactive first',
    ),
  UPLOAD_WAIT_MS: int(1, 600_000)
    .default(10_000)
    .describe(
      'How long an upload may wait for UPLOAD_BUDGET_BYTES before it gets 503 with Retry-After, ms',
    ),
  GC_AFTER_BUFFERS_BYTES: int(0, 1 << 30)
    .default(16 * 1024 * 1024)
    .describe(
      "Growth of an API process's buffers (uploads, pixels) after which it runs a full garbage collection itself; 0: only V8's own, after some 64 MB",
    ),
  MAX_QUEUE_DEPTH: int(1, 10_000_000)
    .default(10_000)
    .describe('Most jobs waiting in the queue; beyond it new uploads get 503 with Retry-After'),
  API_KEYS: list
    .default([])
    .refine((keys) => keys.every((k) => (k.split(':').pop() ?? '').length >= 16), {
      message: 'each key needs at least 16 characters',
    })
    .describe(
      'API keys, comma-separated, each `id:secret` or a bare secret (16+ characters); empty: no key needed',
    ),
  SESSION_SECRET: z
    .preprocess((v) => (v === '' ? undefined : v), z.string().min(32).optional())
    .describe(
      "Signs the history page's sign-in cookies (32+ characters), the same on every API replica; unset: a random one per process (required in production with API_KEYS)",
    ),
  SESSION_TTL_S: int(60, 30 * 24 * 3600)
    .default(8 * 3600)
    .describe('How long a browser sign-in on the history page lasts, seconds'),
  RATE_LIMIT_MAX: int(0, 1_000_000)
    .default(600)
    .describe(
      'Requests per RATE_LIMIT_WINDOW_MS per API key, or per client IP without keys; 0: no limit',
    ),
  RATE_LIMIT_WINDOW_MS: int(1000, 24 * 3600_000)
    .default(60_000)
    .describe('Window of the rate limit, ms'),
  TRUST_PROXY: list
    .default([])
    // Not a hop count: Fastify would believe any direct client's X-Forwarded-For with one.
    .refine((entries) => entries.every((e) => isIP(e.replace(/\/\d+$/, '')) !== 0), {
      message: 'each entry must be an IP address or CIDR',
    })
    .describe(
      'Addresses or CIDRs of the reverse proxies whose X-Forwarded-For is believed (nginx); empty: none',
    ),
  SYNC_TIMEOUT_MS: int(1, 600_000)
    .default(10_000)
    .describe('Default wait of a synchronous predict (timeoutMs), ms'),
  SYNC_TIMEOUT_MAX_MS: int(1, 600_000)
    .default(60_000)
    .describe('Largest timeoutMs a synchronous predict accepts, ms'),
  LONG_POLL_MAX_MS: int(0, 600_000)
    .default(30_000)
    .describe('Longest long-poll of GET /v1/jobs/:id?waitMs=, ms'),
  CACHE_RESULTS: bool
    .default(true)
    .describe('Answer repeated uploads (same SHA-256, same model) from stored results'),
  CACHE_TTL_S: int(60, 365 * 24 * 3600)
    .default(7 * 24 * 3600)
    .describe('How long a result stays in the content cache in Redis, seconds'),
  // Compose passes an unset variable as an empty string.
  RESULTS_RETENTION_DAYS: z
    .preprocess(
      (v) => (v === '' ? undefined : v),
      z.coerce.number().positive().max(36_500).optional(),
    )
    .describe('Delete predictions older than this many days; unset keeps everything'),
  IDEMPOTENCY_TTL_S: int(60, 30 * 24 * 3600)
    .default(24 * 3600)
    .describe(
      'How long an Idempotency-Key answers with its first response (same key, same request), seconds',
    ),
  PIXELS_TTL_S: int(10, 7 * 24 * 3600)
    .default(3600)
    .describe('How long the preprocessed pixels wait in Redis for a worker, seconds'),
  MODEL_DIR: z
    .string()
    .default('models')
    .describe('Directory holding the model files and the converted ONNX model'),
  MODEL_MIRROR_DIR: z
    .string()
    .optional()
    .describe('Local mirror of the published model files; when unset they are downloaded'),
  MODEL_PRECISION: z
    .enum(MODEL_PRECISIONS)
    .default('int8')
    .describe(
      "int8: the TFLite file's own uint8 quantization on integer kernels; int8-fast: the same with the weights as symmetric int8 per output channel, onnxruntime's fastest kernels; int8-exact: TFLite's integer arithmetic to the bit, tens of times slower; fp32: float weights",
    ),
  MAX_BATCH: int(1, 256).default(8).describe('Jobs in one inference call at most'),
  MAX_BATCH_DELAY_MS: int(0, 10_000)
    .default(0)
    .describe('Wait for a batch to fill when the worker is idle, ms; 0 starts at once'),
  INTRA_OP_THREADS: int(1, 64)
    .default(1)
    .describe('Threads onnxruntime uses inside one inference call'),
  WORKER_METRICS_HOST: z
    .string()
    .default('127.0.0.1')
    .describe("Address of the worker's /metrics, /healthz and /readyz listener"),
  WORKER_METRICS_PORT: int(0, 65535)
    .default(9400)
    .describe("Port of the worker's /metrics, /healthz and /readyz listener; 0 picks a free one"),
  JOB_LOCK_MS: int(1000, 600_000)
    .default(5000)
    .describe(
      "A worker's lock on a job, renewed while it runs; a dead worker's jobs are free after it, ms",
    ),
  STALLED_CHECK_MS: int(1000, 600_000)
    .default(5000)
    .describe(
      'How often workers look for jobs whose lock ran out (a dead worker) and queue them again, ms',
    ),
  JOB_ATTEMPTS: int(1, 20).default(5).describe('Attempts of a job that fails on a transient fault'),
  WEBHOOK_SECRET: z
    .string()
    .regex(/^(whsec_[A-Za-z0-9+/]{22,}={0,2})?$/, 'a Standard Webhooks secret: whsec_ and base64')
    .default('')
    .describe(
      'Key that signs webhooks (Standard Webhooks: `whsec_` and 16+ random bytes in base64); empty: callbackUrl refused',
    ),
  WEBHOOK_ATTEMPTS: int(1, 30)
    .default(8)
    .describe('Delivery attempts of a webhook before it is dead-lettered'),
  WEBHOOK_BACKOFF_MS: int(1, 3_600_000)
    .default(2000)
    .describe('Wait before the first webhook retry, ms; each next wait doubles'),
  WEBHOOK_CONCURRENCY: int(1, 1000)
    .default(32)
    .describe(
      "Webhook jobs in flight at once per API process (a finished batch's first attempts, or one delivery's retry)",
    ),
  FETCH_CONCURRENCY: int(1, 256).default(8).describe('Image URLs fetched at once per API process'),
  OUTBOUND_ALLOWED_HOSTS: list
    .default([])
    .describe(
      'Trusted `host` or `host:port` entries that webhooks and image URLs may reach even at private or loopback addresses',
    ),
  OUTBOUND_ALLOW_PUBLIC: bool
    .default(true)
    .describe(
      'Whether webhooks and image URLs may reach public addresses; false: only OUTBOUND_ALLOWED_HOSTS (no DNS lookup of any other name)',
    ),
  OUTBOUND_CONNECT_TIMEOUT_MS: int(1, 60_000)
    .default(3000)
    .describe('Connect timeout of outbound requests (webhooks, image URLs), ms'),
  OUTBOUND_TIMEOUT_MS: int(1, 600_000)
    .default(10_000)
    .describe('Whole-request timeout of outbound requests, redirects included, ms'),
});

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  // A random secret per process signs a cookie only that process accepts: behind several
  // replicas a browser would be signed out at random.
  if (e.NODE_ENV === 'production' && e.API_KEYS.length > 0 && !e.SESSION_SECRET) {
    throw new Error(
      'Invalid configuration:\n  SESSION_SECRET: required in production when API_KEYS is set',
    );
  }
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    redis: { url: e.REDIS_URL },
    mongo: { url: e.MONGODB_URL, timeoutMs: e.MONGO_TIMEOUT_MS },
    queue: { name: e.QUEUE_NAME, attempts: e.JOB_ATTEMPTS, pixelsTtlS: e.PIXELS_TTL_S },
    webhooks: {
      queueName: relatedQueueName(e.QUEUE_NAME, QueueName.Webhook),
      secret: e.WEBHOOK_SECRET,
      attempts: e.WEBHOOK_ATTEMPTS,
      backoffMs: e.WEBHOOK_BACKOFF_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
    },
    fetch: {
      queueName: relatedQueueName(e.QUEUE_NAME, QueueName.Fetch),
      concurrency: e.FETCH_CONCURRENCY,
    },
    outbound: {
      allowedHosts: e.OUTBOUND_ALLOWED_HOSTS,
      allowPublic: e.OUTBOUND_ALLOW_PUBLIC,
      connectTimeoutMs: e.OUTBOUND_CONNECT_TIMEOUT_MS,
      timeoutMs: e.OUTBOUND_TIMEOUT_MS,
    },
    api: {
      host: e.API_HOST,
      port: e.API_PORT,
      publicBaseUrl: e.PUBLIC_BASE_URL.replace(/\/$/, ''),
      maxUploadBytes: e.MAX_UPLOAD_BYTES,
      maxFiles: e.MAX_FILES,
      maxPixels: e.MAX_PIXELS,
      uploadBudgetBytes: e.UPLOAD_BUDGET_BYTES,
      uploadWaitMs: e.UPLOAD_WAIT_MS,
      gcAfterBuffersBytes: e.GC_AFTER_BUFFERS_BYTES,
      maxQueueDepth: e.MAX_QUEUE_DEPTH,
      trustProxy: e.TRUST_PROXY,
      syncTimeoutMs: e.SYNC_TIMEOUT_MS,
      syncTimeoutMaxMs: e.SYNC_TIMEOUT_MAX_MS,
      longPollMaxMs: e.LONG_POLL_MAX_MS,
      cacheResults: e.CACHE_RESULTS,
      idempotencyTtlS: e.IDEMPOTENCY_TTL_S,
    },
    security: {
      apiKeys: e.API_KEYS.map((entry) => {
        const at = entry.lastIndexOf(':');
        return at > 0
          ? { id: entry.slice(0, at), secret: entry.slice(at + 1) }
          : { id: null, secret: entry };
      }),
      rateLimit: { max: e.RATE_LIMIT_MAX, windowMs: e.RATE_LIMIT_WINDOW_MS },
      session: { secret: e.SESSION_SECRET, ttlS: e.SESSION_TTL_S },
    },
    results: { cacheTtlS: e.CACHE_TTL_S, retentionDays: e.RESULTS_RETENTION_DAYS },
    model: { dir: e.MODEL_DIR, mirrorDir: e.MODEL_MIRROR_DIR, precision: e.MODEL_PRECISION },
    worker: {
      maxBatch: e.MAX_BATCH,
      maxBatchDelayMs: e.MAX_BATCH_DELAY_MS,
      intraOpThreads: e.INTRA_OP_THREADS,
      lockMs: e.JOB_LOCK_MS,
      stalledCheckMs: e.STALLED_CHECK_MS,
    },
    workerOps: { host: e.WORKER_METRICS_HOST, port: e.WORKER_METRICS_PORT },
  };
}

export type AppConfig = ReturnType<typeof loadConfig>;
