import { JobPriority } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { UploadBudget } from '../jobs/upload-budget.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** How the route's uploads queue for the upload budget; interactive when unset. */
    uploadPriority?: JobPriority;
  }
  interface FastifyRequest {
    /** Gives back this request's share of the upload budget; later calls do nothing. */
    releaseUploads: () => void;
  }
}

const MULTIPART = /^\s*multipart\//i;

/**
 * Multipart bodies are read only within UPLOAD_BUDGET_BYTES (see UploadBudget). The share is
 * given back once the answer is sent or the connection lost, or earlier by the route once its
 * uploads are queued (a synchronous predict then waits for its answer without holding any).
 */
export const uploadBudgetPlugin = fp(
  async (app: FastifyInstance) => {
    const { uploadBudgetBytes, uploadWaitMs, maxUploadBytes } = app.config.api;
    const budget = new UploadBudget(uploadBudgetBytes, uploadWaitMs);
    app.decorateRequest('releaseUploads', () => {});
    // preParsing: after the key and rate-limit checks, before any of the body is read.
    app.addHook('preParsing', async (request, reply) => {
      // By its header: the multipart plugin marks a request as multipart only once it parses it.
      if (!MULTIPART.test(request.headers['content-type'] ?? '')) return;
      const declared = Number(request.headers['content-length']);
      // A chunked body does not say its size: it counts as one file at the limit.
      const bytes = declared > 0 ? declared : maxUploadBytes;
      const priority = request.routeOptions.config.uploadPriority ?? JobPriority.Interactive;
      const release = await budget.acquire(bytes, priority);
      request.releaseUploads = release;
      // 'close' comes once the answer is sent or the connection is gone, whichever ends it.
      reply.raw.once('close', release);
    });
  },
  { name: 'upload-budget' },
);
