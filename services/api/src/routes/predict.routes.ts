import { AppError, JobStatus } from '@imagerec/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  errorResponses,
  imageUploadBody,
  jobRefSchema,
  jobViewSchema,
  topKQuery,
} from '../schemas/common.schema.js';
import { readUploads, statusUrl } from './uploads.js';

type PredictRequest = FastifyRequest<{ Querystring: { topK: number; timeoutMs: number } }>;

export async function predictRoutes(app: FastifyInstance) {
  const { api } = app.config;

  const schema = (summary: string, description: string) => ({
    tags: ['predict'],
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
      },
    },
    body: imageUploadBody('One image file', false),
    response: {
      200: jobViewSchema,
      202: { ...jobRefSchema, description: 'Not finished within timeoutMs; poll statusUrl' },
      303: { description: 'From an HTML form: back to the history page', type: 'null' },
      ...errorResponses(400, 413, 415, 422, 503),
    },
  });

  const handler = async (request: PredictRequest, reply: FastifyReply) => {
    const [upload] = await readUploads(request, 1);
    if (!upload) throw new AppError('NO_IMAGE');
    const { topK, timeoutMs } = request.query;
    const view = await app.jobs.predict(upload, topK, timeoutMs);
    // The history page's upload form posts here; a browser goes back to the page.
    if (request.headers.accept?.startsWith('text/html')) return reply.redirect('/', 303);
    if (view.status === JobStatus.Failed) {
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
      schema: schema(
        'Classify one image and wait for the answer',
        `Waits up to timeoutMs (default ${api.syncTimeoutMs}, at most ${api.syncTimeoutMaxMs}). ` +
          'Runs ahead of bulk /v1/jobs uploads in the queue.',
      ),
    },
    handler,
  );
  app.post(
    '/predict',
    {
      schema: schema(
        "Classify one image (the original service's call)",
        'Same as POST /v1/predict; kept so `curl -F "image=@cat.png" /predict` works as before.',
      ),
    },
    handler,
  );
}
