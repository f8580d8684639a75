import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Once the API is closing, every response ends its connection. Keep-alive connections (nginx
 * keeps a pool to each API process) would otherwise stay open after their last answer, and
 * close() would wait on them until the process is killed.
 */
export const gracefulClosePlugin = fp(
  async (app: FastifyInstance) => {
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close');
    });
  },
  { name: 'graceful-close' },
);
