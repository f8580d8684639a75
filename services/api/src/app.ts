import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import multipart, { ajvFilePlugin } from '@fastify/multipart';
import type { AppConfig } from '@imagerec/shared';
import Fastify, { type FastifyInstance } from 'fastify';
import { frameworkErrors, registerErrorHandlers } from './errors/error-handler.js';
import { backendsPlugin } from './plugins/backends.plugin.js';
import { docsPlugin } from './plugins/docs.plugin.js';
import { gracefulClosePlugin } from './plugins/graceful-close.plugin.js';
import { idempotencyPlugin } from './plugins/idempotency.plugin.js';
import { metricsPlugin } from './plugins/metrics.plugin.js';
import { outboundPlugin } from './plugins/outbound.plugin.js';
import { queueBoardPlugin } from './plugins/queue-board.plugin.js';
import { securityPlugin } from './plugins/security.plugin.js';
import { sessionPlugin } from './plugins/session.plugin.js';
import { uploadBudgetPlugin } from './plugins/upload-budget.plugin.js';
import { assetsRoutes } from './routes/assets.routes.js';
import { healthRoutes } from './routes/health.routes.js';
import { historyRoutes } from './routes/history.routes.js';
import { jobsRoutes } from './routes/jobs.routes.js';
import { predictRoutes } from './routes/predict.routes.js';
import { queueDepthRoutes } from './routes/queue-depth.routes.js';
import { sessionRoutes } from './routes/session.routes.js';
import { webhookRoutes } from './routes/webhook.routes.js';

/** nginx's pattern for a client's own X-Request-Id (deploy/nginx/nginx.conf.template). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Composes the API: external plugins, then the app's adapters, then the routes. */
export async function buildApp(config: AppConfig): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: config.logLevel },
    // nginx's X-Request-Id becomes the request's id (in every log line and in the job's data),
    // unless it is not shaped like one.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: { plugins: [ajvFilePlugin] },
    frameworkErrors,
    // The client address comes from X-Forwarded-For only when nginx (TRUST_PROXY) sent it.
    trustProxy: config.api.trustProxy.length > 0 ? config.api.trustProxy : false,
  });
  app.decorate('config', config);
  // Before any plugin: each plugin's context keeps the error handler it was registered under.
  registerErrorHandlers(app);

  await app.register(multipart, {
    attachFieldsToBody: true,
    // An image part sent without a filename is still the file, not a text field.
    isPartAFile: (field, contentType, filename) =>
      field === 'image' || filename !== undefined || contentType === 'application/octet-stream',
    limits: {
      fileSize: config.api.maxUploadBytes,
      files: config.api.maxFiles,
      fields: 10,
      parts: config.api.maxFiles + 10,
    },
  });
  await app.register(sessionPlugin);
  await app.register(securityPlugin);
  // After the key and rate-limit checks: a refused request never waits for the budget.
  await app.register(uploadBudgetPlugin);
  await app.register(docsPlugin);
  await app.register(metricsPlugin);
  // Before the backends: its preClose hook must run before theirs answers the long-polls.
  await app.register(gracefulClosePlugin);
  // Before the backends: onClose hooks run last-registered first, so its Redis client closes
  // only after the backends have waited for the running handlers (which store their answers).
  await app.register(idempotencyPlugin);
  await app.register(backendsPlugin);
  await app.register(outboundPlugin);

  // Which process answered: nginx spreads requests over several.
  const instance = `${hostname()}:${config.api.port}`;
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id).header('x-instance', instance);
  });

  await app.register(healthRoutes);
  await app.register(queueDepthRoutes);
  await app.register(jobsRoutes);
  await app.register(predictRoutes);
  await app.register(webhookRoutes);
  await app.register(historyRoutes);
  await app.register(assetsRoutes);
  // A browser signs in on the history page only where keys are needed at all.
  if (app.apiKeys.enabled) await app.register(sessionRoutes);
  // The webhook queue's failed jobs are the dead letters: retried from the board as well.
  await app.register(queueBoardPlugin, {
    queues: [app.classifyQueue.bull, app.webhookQueue.bull, app.urlJobs.queue],
  });
  return app;
}
