import { AppError, ERRORS, type ErrorCode } from '@imagerec/shared';
import type { FastifyError, FastifyInstance } from 'fastify';

/** Framework and plugin error codes, mapped onto the catalog. */
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'TOO_MANY_FILES',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'NO_IMAGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'NO_IMAGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'NO_IMAGE',
};

/** Redis (ioredis) and MongoDB (driver, mongoose) faults that mean "down for now", not "broken". */
const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|ServerSelectionError|MongoNetwork|MongoNotConnected|MongoPoolCleared|MongoTopologyClosed|buffering timed out|Client must be connected|MaxRetriesPerRequest|Stream isn't writeable|Command timed out/;

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
    return new AppError('BAD_REQUEST', err.message, { cause: err });
  }
  if (UNAVAILABLE.test(`${err.name} ${err.message}`))
    return new AppError('SERVICE_UNAVAILABLE', undefined, { cause: err });
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new AppError('BAD_REQUEST', err.message, { cause: err });
  }
  return new AppError('INTERNAL', undefined, { cause: err });
}

/** One error shape for every route: {"error":{"code","message"}}; internals never leave on 5xx. */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
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
    // The rate limit sets its own, from the time left in its window.
    if (appError.retryAfterS && !reply.hasHeader('retry-after')) {
      reply.header('retry-after', String(appError.retryAfterS));
    }
    return reply
      .status(appError.status)
      .send({ error: { code: appError.code, message: appError.message } });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `No route ${request.method} ${request.url.split('?')[0]}`,
      },
    }),
  );
}
