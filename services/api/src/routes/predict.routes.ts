import { AppError, EXPIRED_REASON, JobPriority, JobStatus } from '@imagerec/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readUploads, statusUrl } from '../jobs/uploads.js';
import { idempotencyKeyHeaders } from '../plugins/idempotency.plugin.js';
import { SESSION_SECURITY } from '../plugins/session.plugin.js';
import {
  errorResponses,
  formFieldSchema,
  imageUploadBody,
  jobRefSchema,
  jobViewSchema,
  topKQuery,
} from '../schemas/common.schema.js';
import { callbackUrlField, callbackUrlQuery } from '../schemas/outbound.schema.js';
import { historyUrl } from '../views/history.page.js';
import { callbackUrlOf } from '../webhooks/callback-url.js';

type PredictRequest = FastifyRequest<{ Querystring: { topK: number; timeoutMs: number } }>;

export async function predictRoutes(app: FastifyInstance) {
  const { api } = app.config;
  const oneImage = imageUploadBody('One image file', 1, callbackUrlField);

  const schema = (
    summary: string,
    description: string,
    body: object = oneImage,
    security?: typeof SESSION_SECURITY,
  ) => ({
    tags: ['predict'],
    ...(security && { security }),
    summary,
    description,
    consumes: ['multipart/form-data'],
    querystring: {
      type: 'object',
      properties: {
        ...topKQuery,
        timeoutMs: {
          type: 'integer',
          minimum: 1,
          maximum: api.syncTimeoutMaxMs,
          default: api.syncTimeoutMs,
          description: 'How long to wait for the answer before answering 202 with the job',
        },
        ...callbackUrlQuery,
      },
    },
    headers: idempotencyKeyHeaders,
    body,
    response: {
      200: jobViewSchema,
      202: { ...jobRefSchema, description: 'Not finished within timeoutMs; poll statusUrl' },
      303: {
        description: 'From an HTML form: back to the history page, which shows the jobs as pending',
        type: 'null',
      },
      ...errorResponses(400, 409, 413, 415, 422, 503),
    },
  });

  const handler = async (request: PredictRequest, reply: FastifyReply) => {
    const [upload] = await readUploads(request, 1);
    if (!upload) throw new AppError('NO_IMAGE');
    const { topK, timeoutMs } = request.query;
    const callbackUrl = callbackUrlOf(request, app.config.webhooks.secret);
    const view = await app.jobs.predict(upload, {
      topK,
      timeoutMs,
      requestId: request.id,
      callbackUrl,
      // Its share of the upload budget goes back now, not once the answer comes.
      submitted: request.releaseUploads,
    });
    request.log.info({ jobIds: [view.id], status: view.status }, 'job answered');
    // Expired: the timeout ran out before a worker took it, which a busy event loop can let the
    // worker report before the waiter's own timer: the 202 of a timeout, not a failed image.
    if (view.status === JobStatus.Failed && view.error !== EXPIRED_REASON) {
      throw new AppError('INFERENCE_FAILED', `The image could not be classified: ${view.error}`);
    }
    if (view.status !== JobStatus.Completed) {
      return reply.status(202).send({
        id: view.id,
        status: view.status,
        statusUrl: statusUrl(api.publicBaseUrl, view.id),
      });
    }
    return view;
  };

  app.post(
    '/v1/predict',
    {
      config: { idempotent: true },
      schema: schema(
        'Classify one image and wait for the answer',
        `Waits up to timeoutMs (default ${api.syncTimeoutMs}, at most ${api.syncTimeoutMaxMs}). ` +
          'Runs ahead of bulk /v1/jobs uploads in the queue.',
      ),
    },
    handler,
  );
  /**
   * The history page's form posts here. A browser may send several files; it goes straight
   * back to the page, which shows them as pending until the page's script sees them finish.
   */
  const formHandler = async (request: PredictRequest, reply: FastifyReply) => {
    if (!request.headers.accept?.startsWith('text/html')) return handler(request, reply);
    const uploads = await readUploads(request, api.maxFiles);
    const jobs = await app.jobs.submit(uploads, {
      topK: request.query.topK,
      priority: JobPriority.Interactive,
      requestId: request.id,
      callbackUrl: callbackUrlOf(request, app.config.webhooks.secret),
    });
    const jobIds = jobs.map((j) => j.id);
    request.log.info({ jobIds }, 'jobs accepted');
    return reply.redirect(historyUrl(jobIds), 303);
  };

  app.post(
    '/predict',
    {
      schema: schema(
        "Classify one image (the original service's call)",
        'Same as POST /v1/predict; kept so `curl -F "image=@cat.png" /predict` works as before. ' +
          `From the history page's form (Accept: text/html) it takes up to ${api.maxFiles} files ` +
          'and answers 303 to the page. Signed in on the page, the form carries its CSRF token ' +
          'in the field `_csrf` (403 CSRF_REJECTED without it).',
        imageUploadBody('One image file; an HTML form may send several', api.maxFiles, {
          ...callbackUrlField,
          _csrf: formFieldSchema("The history page's CSRF token, when signed in"),
        }),
        SESSION_SECURITY,
      ),
      // The document promises one file, as /v1/predict does: several are for the history page's
      // form (Accept: text/html) only, and an API client that sends them gets 400 TOO_MANY_FILES.
      config: {
        idempotent: true,
        swaggerTransform: ({ schema, url }) => ({ url, schema: { ...schema, body: oneImage } }),
      },
    },
    formHandler,
  );
}
