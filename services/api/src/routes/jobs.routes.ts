import {
  AppError,
  IMAGE_FORMATS,
  isFinished,
  JOB_ID_MAX_CHARS,
  JobPriority,
  THUMBNAIL_MEDIA_TYPES,
  thumbnailMediaType,
} from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import type { SubmittedJob } from '../jobs/submission.js';
import { readUploads, statusUrl } from '../jobs/uploads.js';
import { idempotencyKeyHeaders } from '../plugins/idempotency.plugin.js';
import { SESSION_SECURITY } from '../plugins/session.plugin.js';
import {
  errorResponses,
  imageUploadBody,
  jobRefSchema,
  jobViewSchema,
  topKQuery,
} from '../schemas/common.schema.js';
import { callbackUrlField, callbackUrlQuery, urlsBody } from '../schemas/outbound.schema.js';
import { callbackUrlOf } from '../webhooks/callback-url.js';

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: JOB_ID_MAX_CHARS } },
} as const;

export async function jobsRoutes(app: FastifyInstance) {
  const { api } = app.config;

  app.post<{ Querystring: { topK: number }; Body: { urls?: string[] } | undefined }>(
    '/v1/jobs',
    {
      config: { idempotent: true, uploadPriority: JobPriority.Bulk },
      schema: {
        tags: ['jobs'],
        summary: 'Queue one job per uploaded image or image URL',
        description:
          `Multipart form, field \`image\`, 1 to ${api.maxFiles} files; or JSON \`{"urls": [...]}\`, ` +
          `1 to ${api.maxFiles} URLs, fetched after the answer. Poll each job's statusUrl, or give ` +
          'a callbackUrl.',
        consumes: ['multipart/form-data', 'application/json'],
        querystring: { type: 'object', properties: { ...topKQuery, ...callbackUrlQuery } },
        headers: idempotencyKeyHeaders,
        body: {
          content: {
            'multipart/form-data': {
              schema: imageUploadBody(
                `One or more image files (${Object.values(IMAGE_FORMATS).join(', ')})`,
                api.maxFiles,
                callbackUrlField,
              ),
            },
            'application/json': { schema: urlsBody(api.maxFiles) },
          },
        },
        response: {
          202: {
            description:
              'Accepted; jobs answered from the cache are already completed, and an image ' +
              'identical to one still queued or running (same bytes, model, topK) names that job',
            type: 'object',
            required: ['jobs'],
            properties: { jobs: { type: 'array', items: jobRefSchema } },
            example: { jobs: [jobRefSchema.example] },
          },
          ...errorResponses(400, 409, 413, 415, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const opts = {
        topK: request.query.topK,
        requestId: request.id,
        callbackUrl: callbackUrlOf(request, app.config.webhooks.secret),
      };
      let jobs: SubmittedJob[];
      if (request.isMultipart()) {
        const uploads = await readUploads(request, api.maxFiles);
        jobs = await app.jobs.submit(uploads, { ...opts, priority: JobPriority.Bulk });
      } else if (request.body?.urls) {
        jobs = await app.urlJobs.submit(request.body.urls, opts);
      } else {
        throw new AppError('BAD_REQUEST', 'Send a multipart form of images or {"urls": [...]}');
      }
      request.log.info({ jobIds: jobs.map((j) => j.id) }, 'jobs accepted');
      return reply.status(202).send({
        jobs: jobs.map((j) => ({ ...j, statusUrl: statusUrl(api.publicBaseUrl, j.id) })),
      });
    },
  );

  app.get<{ Params: { id: string }; Querystring: { topK: number; waitMs?: number } }>(
    '/v1/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A job and, once finished, its predictions',
        // The history page's script long-polls here for the jobs its form queued.
        security: SESSION_SECURITY,
        description: `With waitMs, answers as soon as the job finishes or after waitMs (at most ${api.longPollMaxMs} ms).`,
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            ...topKQuery,
            waitMs: {
              type: 'integer',
              minimum: 0,
              description: 'Long-poll up to this many ms (capped)',
            },
          },
        },
        response: { 200: jobViewSchema, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const { topK, waitMs } = request.query;
      const view = waitMs
        ? await app.jobs.waitFor(request.params.id, topK, Math.min(waitMs, api.longPollMaxMs))
        : await app.jobs.get(request.params.id, topK);
      if (!view) throw new AppError('JOB_NOT_FOUND');
      // A delivery exists only once the job has finished: no read for a job still running.
      const webhook = isFinished(view.status) ? await app.webhooks.status(view.id) : null;
      return webhook ? { ...view, webhook } : view;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/thumbnail',
    {
      schema: {
        tags: ['jobs'],
        summary: "A job's small JPEG preview, from acceptance on (the upload itself is not kept)",
        params: idParams,
        response: {
          200: {
            description: 'JPEG image (WebP for jobs stored before thumbnails were JPEG)',
            content: Object.fromEntries(
              THUMBNAIL_MEDIA_TYPES.map((type) => [
                type,
                { schema: { type: 'string', format: 'binary' } },
              ]),
            ),
          },
          ...errorResponses(400, 404, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const thumbnail = await app.jobs.thumbnail(request.params.id);
      if (!thumbnail) {
        if (await app.urlJobs.view(request.params.id)) throw new AppError('IMAGE_NOT_FETCHED');
        throw new AppError('NOT_FOUND', 'No thumbnail for this job');
      }
      return reply
        .type(thumbnailMediaType(thumbnail))
        .header('cache-control', 'public, max-age=86400, immutable')
        .send(thumbnail);
    },
  );
}
