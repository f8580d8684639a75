import { IMAGE_FORMAT_NAMES } from './image/image-format.js';

/**
 * The catalog of errors a client can be told about, each with its HTTP status; errors a
 * client should retry carry how long to wait (the Retry-After header), seconds.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  NO_IMAGE: { status: 400, message: 'No file in the form field "image"' },
  TOO_MANY_FILES: { status: 400, message: 'Too many files in one request' },
  UNAUTHORIZED: { status: 401, message: 'A valid API key is required (Authorization: Bearer)' },
  CSRF_REJECTED: {
    status: 403,
    message: 'The form is stale or was not sent from this site; reload the page and try again',
  },
  NOT_FOUND: { status: 404, message: 'Not found' },
  JOB_NOT_FOUND: { status: 404, message: 'No job with this id' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed here' },
  IDEMPOTENCY_KEY_IN_FLIGHT: {
    status: 409,
    message: 'A request with this Idempotency-Key is still being processed; retry later',
    retryAfterS: 1,
  },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The upload is larger than the limit' },
  UNSUPPORTED_FORMAT: { status: 415, message: `The file is not a ${IMAGE_FORMAT_NAMES} image` },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'This Idempotency-Key was used with a different request',
  },
  UNDECODABLE_IMAGE: { status: 422, message: 'The image could not be decoded' },
  TOO_MANY_PIXELS: { status: 422, message: 'The image has more pixels than the limit' },
  INFERENCE_FAILED: { status: 422, message: 'The image could not be classified' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; slow down', retryAfterS: 1 },
  SERVICE_UNAVAILABLE: {
    status: 503,
    message: 'A backing service is unavailable',
    retryAfterS: 5,
  },
  UPLOADS_BUSY: {
    status: 503,
    message: 'Too many uploads are being read at once; retry later',
    retryAfterS: 1,
  },
  QUEUE_FULL: { status: 503, message: 'Too many jobs are waiting; retry later', retryAfterS: 2 },
  INTERNAL: { status: 500, message: 'Internal server error' },
  WEBHOOKS_NOT_CONFIGURED: {
    status: 400,
    message: 'callbackUrl needs a webhook signing secret (WEBHOOK_SECRET) on the server',
  },
  NO_WEBHOOK: { status: 409, message: 'This job has no webhook delivery to retry' },
  WEBHOOK_NOT_DEAD_LETTERED: {
    status: 409,
    message: 'Only a dead-lettered webhook delivery can be retried',
  },
  IMAGE_NOT_FETCHED: {
    status: 409,
    message: "This job's image has not been fetched (yet, or its fetch failed)",
  },
  // A job of image URLs fails with these (its error starts with the code); never an HTTP answer.
  FETCH_REFUSED: { status: 400, message: 'The URL points at an address that may not be reached' },
  FETCH_TOO_LARGE: { status: 413, message: 'The resource is larger than the limit' },
  FETCH_FAILED: { status: 502, message: 'The URL could not be fetched' },
  FETCH_TIMEOUT: { status: 504, message: 'The URL did not answer in time' },
} as const satisfies Record<string, { status: number; message: string; retryAfterS?: number }>;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string = ERRORS[code].message, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
    const entry = ERRORS[code];
    this.retryAfterS = 'retryAfterS' in entry ? entry.retryAfterS : undefined;
  }
}

/** What went wrong, in one string, whatever was thrown: an Error's message, anything else as text. */
export const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));
