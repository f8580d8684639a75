import type { PredictionRecord } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import { viewFromRecord } from '../jobs/job.view.js';
import { errorResponses, jobViewSchema } from '../schemas/common.schema.js';
import { renderHistoryPage } from '../views/history.page.js';

const pageQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    before: { type: 'string', format: 'date-time', description: 'Page back from this createdAt' },
  },
} as const;

const htmlResponse = (description: string) => ({
  description,
  content: { 'text/html': { schema: { type: 'string' } } },
});

type PageRequest = { Querystring: { limit: number; before?: string } };

export async function historyRoutes(app: FastifyInstance) {
  const page = async (limit: number, before?: string) => {
    const records = await app.repository.listRecent(limit, before ? new Date(before) : undefined);
    const last = records.at(-1);
    const next = records.length === limit && last ? last.createdAt.toISOString() : null;
    return { records, next };
  };

  const itemView = (r: PredictionRecord) => ({
    ...viewFromRecord(r, 20),
    width: r.width,
    height: r.height,
    format: r.format,
    byteSize: r.byteSize,
    ...(r.thumbnail && { thumbnailUrl: `/v1/jobs/${r.jobId}/thumbnail` }),
  });

  app.get<PageRequest>(
    '/v1/predictions',
    {
      schema: {
        tags: ['history'],
        summary: 'Past predictions, newest first',
        querystring: pageQuery,
        response: {
          200: {
            type: 'object',
            required: ['items', 'next'],
            properties: {
              items: {
                type: 'array',
                items: {
                  ...jobViewSchema,
                  properties: {
                    ...jobViewSchema.properties,
                    width: { type: 'integer' },
                    height: { type: 'integer' },
                    format: { type: 'string' },
                    byteSize: { type: 'integer' },
                    thumbnailUrl: { type: 'string' },
                  },
                },
              },
              next: {
                type: 'string',
                nullable: true,
                description: 'Pass as `before` for the next page; null on the last page',
              },
            },
          },
          ...errorResponses(400, 503),
        },
      },
    },
    async (request) => {
      const { records, next } = await page(request.query.limit, request.query.before);
      return { items: records.map(itemView), next };
    },
  );

  app.get<PageRequest>(
    '/',
    {
      schema: {
        tags: ['history'],
        summary: 'The history page (HTML) with an upload form',
        querystring: pageQuery,
        response: {
          200: htmlResponse('The history page'),
          400: htmlResponse('A bad query value: an HTML error page'),
          503: htmlResponse('Redis or MongoDB unavailable: an HTML error page'),
        },
      },
      config: { htmlErrors: true },
    },
    async (request, reply) => {
      const { records, next } = await page(request.query.limit, request.query.before);
      return reply
        .type('text/html; charset=utf-8')
        .send(renderHistoryPage(records, next, request.query.limit));
    },
  );
}
