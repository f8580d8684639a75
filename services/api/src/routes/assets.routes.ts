import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { SESSION_SECURITY } from '../plugins/session.plugin.js';
import { HISTORY_SCRIPT_PATH } from '../views/history.page.js';

/** The page scripts, served from files (not inline) so a content security policy can forbid inline code. */
export async function assetsRoutes(app: FastifyInstance) {
  // services/api/assets, from src/routes and dist/routes alike.
  const script = await readFile(new URL('../../assets/history.js', import.meta.url), 'utf8');
  app.get(
    HISTORY_SCRIPT_PATH,
    {
      logLevel: 'warn',
      schema: {
        tags: ['history'],
        summary: "The history page's script",
        security: SESSION_SECURITY,
        produces: ['application/javascript'],
        response: { 200: { description: 'JavaScript', type: 'string' } },
      },
    },
    async (_request, reply) =>
      reply
        .type('application/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .send(script),
  );
}
