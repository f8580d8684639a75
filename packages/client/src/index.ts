import createClient, { type Client } from 'openapi-fetch';
import { Webhook } from 'standardwebhooks';
import type { paths } from './openapi-types.js';

export type { components, paths } from './openapi-types.js';

type Json<R> = R extends { content: { 'application/json': infer B } } ? B : never;
type JobsPost = paths['/v1/jobs']['post'];
type PredictPost = paths['/v1/predict']['post'];

/** A job with, once finished, its predictions. */
export type JobView = Json<paths['/v1/jobs/{id}']['get']['responses'][200]>;
/** An accepted job and where to poll it. */
export type JobRef = Json<JobsPost['responses'][202]>['jobs'][number];
/** The one error shape of every route. */
export type ErrorBody = Json<JobsPost['responses'][400]>;

/** An image to upload: a Blob (or File), or bytes with a filename. */
export type ImageFile = Blob | { filename: string; bytes: Uint8Array; type?: string };

export interface ClientOptions {
  /** Where the API is, e.g. http://localhost:8080 (nginx) */
  baseUrl: string;
  /** Sent as `Authorization: Bearer` when the service has API_KEYS. */
  apiKey?: string;
  /** Another fetch (tests, proxies). */
  fetch?: typeof globalThis.fetch;
}

export interface SubmitOptions {
  topK?: number;
  /** Makes a retry safe: the same key and request answers the first answer again. */
  idempotencyKey?: string;
  /** Where the service POSTs the finished job (a signed Standard Webhooks call). */
  callbackUrl?: string;
  /** Sent as X-Request-Id: the service's and workers' log lines about this request carry it. */
  requestId?: string;
}

export interface PredictOptions extends SubmitOptions {
  /** How long the service waits for the answer before it answers 202 with the job. */
  timeoutMs?: number;
}

/** What a POST answered, with whether it is a replay of an earlier answer under the same key. */
interface Answer {
  /** The HTTP status. */
  status: number;
  /** The answer was given before, to a request with the same Idempotency-Key. */
  replayed: boolean;
  /** The request's id in the service's logs (X-Request-Id). */
  requestId: string | null;
}

export type PredictAnswer = Answer &
  ({ status: 200; body: JobView } | { status: 202; body: Json<PredictPost['responses'][202]> });
export type SubmitAnswer = Answer & { status: 202; body: { jobs: JobRef[] } };

/** A 4xx or 5xx answer, with the catalog's code. */
export class ImagerecError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from Retry-After, where the service says when to retry. */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ImagerecError';
  }
}

const FINISHED = new Set(['completed', 'failed']);
/** The longest long-poll one request asks for; the service caps it too (LONG_POLL_MAX_MS). */
const LONG_POLL_MS = 30_000;

function formOf(files: ImageFile[]): FormData {
  const form = new FormData();
  for (const file of files) {
    if (file instanceof Blob) {
      form.append('image', file, 'name' in file ? String(file.name) : 'upload');
    } else {
      const blob = new Blob([file.bytes], { type: file.type ?? 'application/octet-stream' });
      form.append('image', blob, file.filename);
    }
  }
  return form;
}

function fail(response: Response, error: unknown): never {
  const body = error as Partial<ErrorBody> | undefined;
  const retryAfter = response.headers.get('retry-after');
  throw new ImagerecError(
    response.status,
    body?.error?.code ?? 'HTTP_ERROR',
    body?.error?.message ?? `HTTP ${response.status}`,
    retryAfter === null ? undefined : Number(retryAfter),
  );
}

const answerOf = (response: Response) => ({
  status: response.status,
  replayed: response.headers.get('idempotent-replayed') === 'true',
  requestId: response.headers.get('x-request-id'),
});

/** The headers of a POST: its Idempotency-Key and request id, where given. */
const postHeaders = ({ idempotencyKey, requestId }: SubmitOptions) => ({
  'idempotency-key': idempotencyKey,
  ...(requestId && { 'x-request-id': requestId }),
});

/**
 * The image recognition API, typed from its OpenAPI document. `api` is the generated client
 * for any route; the methods cover uploads, waiting and webhooks.
 */
export class ImagerecClient {
  readonly api: Client<paths>;

  constructor(options: ClientOptions) {
    this.api = createClient<paths>({
      baseUrl: options.baseUrl.replace(/\/$/, ''),
      ...(options.fetch && { fetch: options.fetch }),
      headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
    });
  }

  /** Classifies one image and waits (up to timeoutMs) for the answer: 200 with it, or 202 with the job. */
  async predict(file: ImageFile, options: PredictOptions = {}): Promise<PredictAnswer> {
    const { topK, timeoutMs, callbackUrl } = options;
    const { data, error, response } = await this.api.POST('/v1/predict', {
      params: {
        query: { topK, timeoutMs, callbackUrl },
        header: postHeaders(options),
      },
      // The document types a form as an object of its fields; what goes is the FormData.
      body: formOf([file]) as never,
    });
    if (!data) fail(response, error);
    return { ...answerOf(response), body: data } as PredictAnswer;
  }

  /** Queues one job per image file, or per image URL (`{ urls }`), and answers their refs. */
  async submit(
    input: ImageFile[] | { urls: string[] },
    options: SubmitOptions = {},
  ): Promise<SubmitAnswer> {
    const { topK, callbackUrl } = options;
    const { data, error, response } = await this.api.POST('/v1/jobs', {
      params: {
        query: { topK, callbackUrl },
        header: postHeaders(options),
      },
      // Files go as multipart; URLs as the JSON body {"urls": [...]}.
      body: (Array.isArray(input) ? formOf(input) : input) as never,
    });
    if (!data) fail(response, error);
    return { ...answerOf(response), status: 202, body: data };
  }

  /** A job's view now. */
  async job(id: string, topK?: number): Promise<JobView> {
    const { data, error, response } = await this.api.GET('/v1/jobs/{id}', {
      params: { path: { id }, query: { topK } },
    });
    if (!data) fail(response, error);
    return data;
  }

  /**
   * Long-polls the job until it has finished (completed or failed), or `timeoutMs` ran out:
   * then its latest view.
   */
  async wait(id: string, options: { topK?: number; timeoutMs?: number } = {}): Promise<JobView> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    for (;;) {
      const waitMs = Math.max(0, Math.min(LONG_POLL_MS, deadline - Date.now()));
      const { data, error, response } = await this.api.GET('/v1/jobs/{id}', {
        params: { path: { id }, query: { topK: options.topK, waitMs } },
      });
      if (!data) fail(response, error);
      if (FINISHED.has(data.status) || Date.now() >= deadline) return data;
    }
  }
}

/**
 * Checks a webhook call the Standard Webhooks way (webhook-id, webhook-timestamp,
 * webhook-signature; HMAC-SHA256 with the shared secret) and answers its payload, the job's view.
 * Throws when the signature or the timestamp does not hold. `body` is the raw request body.
 */
export function verifyWebhook(
  body: string | Uint8Array,
  headers: Headers | Record<string, string | string[] | undefined>,
  secret: string,
): JobView {
  const flat: Record<string, string> = {};
  const entries = headers instanceof Headers ? headers.entries() : Object.entries(headers);
  for (const [name, value] of entries) {
    if (value !== undefined)
      flat[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const payload = typeof body === 'string' ? body : new TextDecoder().decode(body);
  return new Webhook(secret).verify(payload, flat) as JobView;
}
