import { AppError, ERRORS, type ErrorCode, isBackendOutage } from '@imagerec/shared';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { renderErrorPage } from '../views/error.page.js';
import { HTML_CONTENT_TYPE } from '../views/history.page.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route serves a browser page: its errors are HTML too. */
    htmlErrors?: boolean;
  }
}

/** Framework and plugin error codes, mapped onto the catalog. */
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'TOO_MANY_FILES',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'NO_IMAGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'NO_IMAGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'NO_IMAGE',
  FST_CSRF_MISSING_SECRET: 'CSRF_REJECTED',
  FST_CSRF_INVALID_TOKEN: 'CSRF_REJECTED',
};

/** The multipart parser's (busboy's) errors carry no code, only these messages. */
const MALFORMED_MULTIPART =
  /^(Multipart: Boundary not found|Unexpected end of (form|multipart data)|Malformed part header)/;

function toAppError(err: FastifyError): AppError {
  if (err instanceof AppError) return err;
  const mapped = err.code && FRAMEWORK_CODES[err.code];
  if (mapped) {
    const message =
      mapped === 'NO_IMAGE' ? ERRORS.NO_IMAGE.message : `${ERRORS[mapped].message}: ${err.message}`;
    return new AppError(mapped, message, { cause: err });
  }
  if (err.validation) {
    const missingImage = err.validation.some(
      (v) =>
        v.keyword === 'required' &&
        (v.params as { missingProperty?: string }).missingProperty === 'image',
    );
    if (missingImage) return new AppError('NO_IMAGE', undefined, { cause: err });
    const unknownField = err.validation.find((v) => v.keyword === 'propertyNames');
    if (unknownField) {
      const { propertyName } = unknownField.params as { propertyName?: string };
      const message = `The form field "${propertyName}" is not taken: the only field is "image"`;
      return new AppError('BAD_REQUEST', message, { cause: err });
    }
    return new AppError('BAD_REQUEST', err.message, { cause: err });
  }
  if (MALFORMED_MULTIPART.test(err.message)) {
    return new AppError('BAD_REQUEST', 'The multipart body is malformed', { cause: err });
  }
  // Redis or MongoDB down for now, not broken.
  if (isBackendOutage(err)) return new AppError('SERVICE_UNAVAILABLE', undefined, { cause: err });
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new AppError('BAD_REQUEST', err.message, { cause: err });
  }
  return new AppError('INTERNAL', undefined, { cause: err });
}

/** One error shape for every route: {"error":{"code","message"}} (an HTML page on browser pages). */
function sendError(request: FastifyRequest, reply: FastifyReply, appError: AppError) {
  // The rate limit sets its own, from the time left in its window.
  if (appError.retryAfterS && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', String(appError.retryAfterS));
  }
  reply.status(appError.status);
  if (request.routeOptions.config?.htmlErrors) {
    return reply
      .type(HTML_CONTENT_TYPE)
      .send(renderErrorPage(appError.status, appError.code, appError.message));
  }
  return reply.send({ error: { code: appError.code, message: appError.message } });
}

/** Router-level faults (a malformed or overlong path) in the catalog's shape, not Fastify's. */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  request.log.info({ code: err.code, reason: err.message }, 'request refused');
  return sendError(request, reply, new AppError('BAD_REQUEST', err.message, { cause: err }));
}

/**
 * One error handler for every route; internals never leave on 5xx. Exported for third-party
 * plugins that set their own handler in their scope (the queue board), so their routes too
 * answer a hook's refusal (401, 429) from the catalog.
 */
export function handleError(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const appError = toAppError(err);
  if (appError.code === 'INTERNAL') {
    request.log.error({ err, url: request.url, method: request.method }, 'request failed');
  } else if (appError.status >= 500) {
    // Outages and a full queue: expected under faults, told to the client as retry-later.
    const cause = appError.cause instanceof Error ? appError.cause.message : undefined;
    request.log.warn({ code: appError.code, reason: appError.message, cause }, 'request refused');
  } else {
    request.log.info({ code: appError.code, msg: appError.message }, 'request refused');
  }
  return sendError(request, reply, appError);
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(handleError);

  // Every route's path pattern and methods, so a known path asked with another method gets 405.
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const source = route.url
      .split('/')
      .map((segment) =>
        segment.startsWith(':')
          ? '[^/]+'
          : segment === '*'
            ? '.*'
            : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    routes.push({ pattern: new RegExp(`^${source}$`), methods });
  });

  const unrouted = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods));
    if (allowed.size === 0) return new AppError('NOT_FOUND', `No route ${request.method} ${path}`);
    reply.header('allow', [...allowed].sort().join(', '));
    return new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}`);
  };
  // Answered before any body is read: a request no route takes has nothing to upload.
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) throw unrouted(request, reply);
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, unrouted(request, reply)));
}
