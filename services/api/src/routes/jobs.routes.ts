import { AppError, JobPriority } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import { idempotencyKeyHeaders } from '../plugins/idempotency.plugin.js';
import { SESSION_SECURITY } from '../plugins/session.plugin.js';
import {
  errorResponses,
  imageUploadBody,
  jobRefSchema,
  jobViewSchema,
  topKQuery,
} from '../schemas/common.schema.js';
import { readUploads, statusUrl } from './uploads.js';

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

export async function jobsRoutes(app: FastifyInstance) {
  const { api } = app.config;

  app.post<{ Querystring: { topK: number } }>(
    '/v1/jobs',
    {
      config: { idempotent: true },
      schema: {
        tags: ['jobs'],
        summary: 'Queue one job per uploaded image',
        description: `Multipart form, field \`image\`, 1 to ${api.maxFiles} files. Poll each job's statusUrl.`,
        consumes: ['multipart/form-data'],
        querystring: { type: 'object', properties: topKQuery },
        headers: idempotencyKeyHeaders,
        body: imageUploadBody(
          'One or more image files (JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP)',
          api.maxFiles,
        ),
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
      const uploads = await readUploads(request, api.maxFiles);
      const jobs = await app.jobs.submit(uploads, {
        topK: request.query.topK,
        priority: JobPriority.Bulk,
        requestId: request.id,
      });
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
      return view;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/thumbnail',
    {
      schema: {
        tags: ['jobs'],
        summary: "A job's small WebP preview, from acceptance on (the upload itself is not kept)",
        params: idParams,
        response: {
          200: {
            description: 'WebP image',
            content: { 'image/webp': { schema: { type: 'string', format: 'binary' } } },
          },
          ...errorResponses(400, 404, 503),
        },
      },
    },
    async (request, reply) => {
      const thumbnail = await app.jobs.thumbnail(request.params.id);
      if (!thumbnail) throw new AppError('NOT_FOUND', 'No thumbnail for this job');
      return reply
        .type('image/webp')
        .header('cache-control', 'public, max-age=86400, immutable')
        .send(thumbnail);
    },
  );
}
