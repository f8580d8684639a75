import type { FastifyInstance } from 'fastify';
import { htmlResponse } from '../schemas/common.schema.js';
import { HTML_CONTENT_TYPE, SIGN_IN_PATH, SIGN_OUT_PATH } from '../views/history.page.js';
import { renderSignInPage } from '../views/sign-in.page.js';

const redirect = (description: string) => ({ description, type: 'null' });
const csrfToken = {
  type: 'string',
  maxLength: 512,
  description: "The form's CSRF token (from the page that shows the form); without it 403",
} as const;

/**
 * The history page's sign-in with an API key, for a browser (it cannot send a bearer header):
 * the key is checked once and a signed session cookie stands for it on the page's routes.
 */
export async function sessionRoutes(app: FastifyInstance) {
  const tags = ['session'];

  app.get(
    SIGN_IN_PATH,
    {
      schema: {
        tags,
        summary: 'The sign-in form (HTML) of the history page',
        security: [],
        produces: ['text/html'],
        response: { 200: htmlResponse('The form') },
      },
      config: { htmlErrors: true },
    },
    async (_request, reply) =>
      reply.type(HTML_CONTENT_TYPE).send(renderSignInPage(reply.generateCsrf())),
  );

  app.post<{ Body: { key: string; _csrf: string } }>(
    SIGN_IN_PATH,
    {
      schema: {
        tags,
        summary: 'Sign in with an API key: a session cookie for the history page',
        description:
          `Sets a signed, HttpOnly, SameSite=Strict cookie (Secure over TLS) lasting ${app.config.security.session.ttlS} s. ` +
          'It is accepted, besides the bearer header, only by the routes whose security lists `session`.',
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        body: {
          type: 'object',
          required: ['key'],
          properties: { key: { type: 'string', maxLength: 1024 }, _csrf: csrfToken },
        },
        produces: ['text/html'],
        response: {
          303: redirect('Signed in: to the history page'),
          401: htmlResponse('Not a configured key: the form again, with the reason'),
          403: htmlResponse('The CSRF token is missing or stale (CSRF_REJECTED)'),
        },
      },
      config: { htmlErrors: true },
      preHandler: app.csrfProtection,
    },
    async (request, reply) => {
      const keyId = app.apiKeys.identifySecret(request.body.key);
      if (!keyId) {
        request.log.info('sign-in refused: not a configured key');
        return reply
          .status(401)
          .type(HTML_CONTENT_TYPE)
          .send(renderSignInPage(reply.generateCsrf(), 'That is not a valid API key.'));
      }
      request.log.info({ apiKeyId: keyId }, 'signed in');
      app.browserSession.start(reply, keyId);
      return reply.redirect('/', 303);
    },
  );

  app.post<{ Body: { _csrf: string } }>(
    SIGN_OUT_PATH,
    {
      schema: {
        tags,
        summary: 'Sign out: the session cookie and the CSRF secret are cleared',
        // Also when the session has already expired: only the form's token is needed.
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        body: { type: 'object', properties: { _csrf: csrfToken } },
        produces: ['text/html'],
        response: {
          303: redirect('Signed out: to the sign-in form'),
          403: htmlResponse('The CSRF token is missing or stale (CSRF_REJECTED)'),
        },
      },
      config: { htmlErrors: true },
      preHandler: app.csrfProtection,
    },
    async (request, reply) => {
      request.log.info({ apiKeyId: app.browserSession.keyId(request) }, 'signed out');
      app.browserSession.end(reply);
      return reply.redirect(SIGN_IN_PATH, 303);
    },
  );
}
