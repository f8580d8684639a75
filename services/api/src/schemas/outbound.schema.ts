/** Longest image URL accepted (signed URLs run long). */
const MAX_IMAGE_URL_CHARS = 2048;
/** Longest callback URL: it may come in the query string, which nginx and Node cap. */
export const MAX_CALLBACK_URL_CHARS = 1024;

/** http or https with a host: `http://` alone passes the uri format, not a URL parser. */
export const HTTP_URL_PATTERN = '^https?://[^/?#\\s]+';

const httpUrl = (description: string, maxLength: number) =>
  ({ type: 'string', format: 'uri', pattern: HTTP_URL_PATTERN, maxLength, description }) as const;

const CALLBACK_DESCRIPTION =
  "Where the job's view is POSTed once it has finished: a webhook signed the Standard Webhooks " +
  'way (webhook-id, webhook-timestamp, webhook-signature), retried with backoff';

/** `callbackUrl` as a query parameter of the POST routes. */
export const callbackUrlQuery = {
  callbackUrl: httpUrl(CALLBACK_DESCRIPTION, MAX_CALLBACK_URL_CHARS),
} as const;

/**
 * An upload body that also documents `callbackUrl` as a form field. The parser hands a field over
 * as an object, so the schema only names it; the route checks its value like the query's.
 */
/** The upload forms' callbackUrl field (an imageUploadBody field); the route checks its value. */
export const callbackUrlField = {
  callbackUrl: { description: `${CALLBACK_DESCRIPTION} (form field; or the query parameter)` },
} as const;

/** POST /v1/jobs with a JSON body: images by URL. */
export const urlsBody = (maxUrls: number) =>
  ({
    type: 'object',
    required: ['urls'],
    properties: {
      urls: {
        type: 'array',
        minItems: 1,
        maxItems: maxUrls,
        items: httpUrl('An image to fetch (same limits as an upload)', MAX_IMAGE_URL_CHARS),
        description:
          'Images fetched by the service through its guarded client; a fetch that fails fails ' +
          'its job with a code (FETCH_REFUSED, FETCH_TIMEOUT, FETCH_TOO_LARGE, FETCH_FAILED, ' +
          "or an upload's own, such as UNSUPPORTED_FORMAT)",
      },
      ...callbackUrlQuery,
    },
  }) as const;

export const deliveryViewSchema = {
  type: 'object',
  description: "The job's webhook delivery, once the job has finished",
  required: ['id', 'status', 'attempts'],
  properties: {
    id: { type: 'string', description: 'The webhook-id header of every attempt' },
    status: { type: 'string', enum: ['pending', 'delivered', 'dead_lettered'] },
    attempts: { type: 'integer', description: 'Attempts made so far' },
    lastError: { type: 'string' },
    deliveredAt: { type: 'string', format: 'date-time' },
  },
} as const;
