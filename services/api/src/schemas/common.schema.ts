import { ERRORS, JobStatus, modelInfo } from '@imagerec/shared';
import { deliveryViewSchema } from './outbound.schema.js';

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        message: { type: 'string' },
      },
    },
  },
  example: {
    error: { code: 'UNSUPPORTED_FORMAT', message: ERRORS.UNSUPPORTED_FORMAT.message },
  },
} as const;

/** The same error schema under each status a route can answer with. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { ...errorSchema, description: `Error ${s}` }]));

export const predictionSchema = {
  type: 'object',
  required: ['index', 'label', 'score'],
  properties: {
    index: {
      type: 'integer',
      description: 'ImageNet class index (0 is background, never reported)',
    },
    label: { type: 'string' },
    score: { type: 'number', description: 'Softmax probability' },
  },
  example: { index: 286, label: 'Egyptian cat', score: 0.79 },
} as const;

const timingsSchema = {
  type: 'object',
  required: ['queuedMs', 'inferenceMs', 'totalMs', 'batchSize'],
  properties: {
    queuedMs: { type: 'number', description: 'From acceptance to the start of its batch' },
    inferenceMs: { type: 'number', description: 'The batch inference call' },
    totalMs: { type: 'number', description: 'From acceptance to the end of its inference' },
    batchSize: {
      type: 'integer',
      description: 'Images in its inference batch; 0 for cached answers',
    },
  },
} as const;

export const jobViewSchema = {
  type: 'object',
  required: ['id', 'status', 'filename', 'model', 'timings', 'createdAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: Object.values(JobStatus) },
    filename: { type: 'string' },
    predictions: { type: 'array', items: predictionSchema },
    error: { type: 'string' },
    cached: { type: 'boolean', description: 'Answered from an earlier result for the same bytes' },
    model: {
      type: 'object',
      required: ['name', 'version'],
      properties: { name: { type: 'string' }, version: { type: 'string' } },
    },
    timings: timingsSchema,
    createdAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    webhook: deliveryViewSchema,
  },
  example: {
    id: '0b7f4c7e-2d1b-4a36-9a43-5c1f0d7c9e11',
    status: 'completed',
    filename: 'cat.png',
    predictions: [
      { index: 286, label: 'Egyptian cat', score: 0.79 },
      { index: 282, label: 'tiger cat', score: 0.09 },
    ],
    cached: false,
    model: modelInfo('int8'),
    timings: { queuedMs: 6, inferenceMs: 21, totalMs: 35, batchSize: 1 },
    createdAt: '2026-11-25T10:00:00.000Z',
    finishedAt: '2026-11-25T10:00:00.035Z',
  },
} as const;

export const jobRefSchema = {
  type: 'object',
  required: ['id', 'status', 'statusUrl'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: Object.values(JobStatus) },
    statusUrl: { type: 'string' },
  },
  example: {
    id: '0b7f4c7e-2d1b-4a36-9a43-5c1f0d7c9e11',
    status: 'queued',
    statusUrl: '/v1/jobs/0b7f4c7e-2d1b-4a36-9a43-5c1f0d7c9e11',
  },
} as const;

export const topKQuery = {
  topK: {
    type: 'integer',
    minimum: 1,
    maximum: 20,
    default: 5,
    description: 'How many labels to return',
  },
} as const;

/** A multipart text field as @fastify/multipart attaches it to the body: its value inside. */
export const formFieldSchema = (description: string) =>
  ({
    type: 'object',
    required: ['value'],
    properties: { value: { type: 'string' } },
    description,
  }) as const;

/** A response that is an HTML page. */
export const htmlResponse = (description: string) => ({
  description,
  content: { 'text/html': { schema: { type: 'string' } } },
});

/**
 * The multipart body, for validation and for the OpenAPI document: the field `image` with 1 to
 * maxFiles files, the text fields named in `fields`, and no other field (400). Named fields
 * rather than a `not` over refused names: schemathesis cannot judge a `not` against a file part
 * (ValueError: Unsupported type 'Binary').
 */
export const imageUploadBody = (
  description: string,
  maxFiles: number,
  fields: Record<string, object> = {},
) => {
  const properties = {
    image:
      maxFiles === 1
        ? { isFile: true, description }
        : {
            anyOf: [
              { isFile: true },
              { type: 'array', items: { isFile: true }, minItems: 1, maxItems: maxFiles },
            ],
            description,
          },
    ...fields,
  };
  return {
    type: 'object',
    required: ['image'],
    propertyNames: { enum: Object.keys(properties) },
    properties,
  } as const;
};
