/** The catalog of errors a client can be told about, each with its HTTP status. */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  NO_IMAGE: { status: 400, message: 'No file in the form field "image"' },
  TOO_MANY_FILES: { status: 400, message: 'Too many files in one request' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  JOB_NOT_FOUND: { status: 404, message: 'No job with this id' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The upload is larger than the limit' },
  UNSUPPORTED_FORMAT: { status: 415, message: 'The file is not an image format we read' },
  UNDECODABLE_IMAGE: { status: 422, message: 'The image could not be decoded' },
  TOO_MANY_PIXELS: { status: 422, message: 'The image has more pixels than the limit' },
  INFERENCE_FAILED: { status: 422, message: 'The image could not be classified' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A backing service is unavailable' },
  INTERNAL: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string = ERRORS[code].message, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}
