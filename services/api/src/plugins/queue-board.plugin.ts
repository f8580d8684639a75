import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { handleError } from '../errors/error-handler.js';

export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * The board's React UI sets style attributes (progress bars, layout), which a CSP allows only
 * with 'unsafe-inline'; its pages get that for styles and nothing else. Its web font from
 * Google stays blocked: the board falls back to the system's fonts and calls no one outside.
 */
const BOARD_STYLE_SRC = "style-src 'self' 'unsafe-inline'";

export interface QueueBoardOptions {
  /** The queues shown, each with its jobs by state; a failed job can be retried from there. */
  queues: Queue[];
  /**
   * Runs before every request to the board (pages, assets and its API): the one place an
   * access check goes. Without it the board is open to whoever reaches the API.
   */
  authorize?: onRequestHookHandler;
}

/** bull-board over the given queues at /admin/queues, in a scope of its own. */
export async function queueBoardPlugin(app: FastifyInstance, opts: QueueBoardOptions) {
  if (opts.authorize) app.addHook('onRequest', opts.authorize);
  app.addHook('onSend', async (_request, reply, payload) => {
    const csp = reply.getHeader('content-security-policy');
    if (typeof csp === 'string') {
      reply.header('content-security-policy', csp.replace(/style-src [^;]*/, BOARD_STYLE_SRC));
    }
    return payload;
  });
  app.addHook('onRoute', (route) => {
    // Third-party routes: left out of the OpenAPI document.
    route.schema = { ...route.schema, hide: true };
    // The board's plugin sets its own error handler, which answers 500 to every error without
    // a statusCode, the API key check's 401 and the rate limit's 429 included. Its routes take
    // the catalog's handler, which outranks the one of their scope.
    route.errorHandler = handleError;
  });
  const adapter = new FastifyAdapter();
  createBullBoard({
    queues: opts.queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'imagerec queues' } },
  });
  adapter.setBasePath(QUEUE_BOARD_PATH);
  await app.register(adapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
}
