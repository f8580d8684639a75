import {
  AppError,
  CURSOR_PATTERN,
  formatCursor,
  modelInfo,
  type PredictionRecord,
  parseCursor,
  viewFromRecord,
} from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import { statusUrl } from '../jobs/uploads.js';
import { SESSION_SECURITY } from '../plugins/session.plugin.js';
import {
  errorResponses,
  htmlResponse,
  jobViewSchema,
  topKQuery,
} from '../schemas/common.schema.js';
import { HTML_CONTENT_TYPE, renderHistoryPage } from '../views/history.page.js';

const pageQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    before: {
      type: 'string',
      pattern: CURSOR_PATTERN,
      description:
        "The previous page's `next`: the page starts right after it. Epoch milliseconds alone " +
        '(13 digits) start the page before that instant.',
    },
  },
} as const;

type PageRequest = { Querystring: { limit: number; before?: string } };
type HtmlPageRequest = { Querystring: { limit: number; before?: string; pending?: string } };

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

export async function historyRoutes(app: FastifyInstance) {
  const page = async (limit: number, before?: string) => {
    const cursor = before === undefined ? undefined : parseCursor(before);
    if (before !== undefined && !cursor) {
      throw new AppError('BAD_REQUEST', 'before must be a `next` value');
    }
    const records = await app.repository.listRecent(limit, cursor);
    const last = records.at(-1);
    const next = records.length === limit && last ? formatCursor(last) : null;
    return { records, next };
  };

  const model = modelInfo(app.config.model.precision);
  const itemView = (r: PredictionRecord) => ({
    // Every stored prediction: as many as the largest topK.
    ...viewFromRecord(r, topKQuery.topK.maximum, model),
    width: r.width,
    height: r.height,
    format: r.format,
    byteSize: r.byteSize,
    ...(r.thumbnail && { thumbnailUrl: `${statusUrl('', r.jobId)}/thumbnail` }),
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

  app.get<HtmlPageRequest>(
    '/',
    {
      schema: {
        tags: ['history'],
        summary: 'The history page (HTML) with an upload form',
        security: SESSION_SECURITY,
        querystring: {
          ...pageQuery,
          properties: {
            ...pageQuery.properties,
            pending: {
              type: 'string',
              pattern: `^${UUID}(,${UUID}){0,255}$`,
              description:
                'Job ids just uploaded from the form, shown as pending until they finish',
            },
          },
        },
        produces: ['text/html'],
        response: {
          200: htmlResponse('The history page'),
          303: {
            description: 'API_KEYS set, and neither a key nor a session: to the sign-in form',
            type: 'null',
          },
          400: htmlResponse('A bad query value: an HTML error page'),
          503: htmlResponse('Redis or MongoDB unavailable: an HTML error page'),
        },
      },
      config: { htmlErrors: true },
    },
    async (request, reply) => {
      const { limit, before, pending } = request.query;
      // Pending first: a job finishing in between is then in the records, and shown once.
      const waiting = pending ? await app.jobs.pending(pending.split(',')) : [];
      const { records, next } = await page(limit, before);
      const listed = new Set(records.map((r) => r.jobId));
      const stillPending = waiting.filter((p) => !listed.has(p.jobId));
      const session = request.signedIn ? { csrfToken: reply.generateCsrf() } : undefined;
      return reply
        .type(HTML_CONTENT_TYPE)
        .send(renderHistoryPage(records, next, limit, stillPending, session));
    },
  );
}
