import type { MultipartValue } from '@fastify/multipart';
import { AppError } from '@imagerec/shared';
import type { FastifyRequest } from 'fastify';
import { HTTP_URL_PATTERN, MAX_CALLBACK_URL_CHARS } from '../schemas/outbound.schema.js';

/** The form field gets the same check as the query parameter's schema. */
const HTTP_URL = new RegExp(HTTP_URL_PATTERN);

/**
 * The request's callback URL: the query parameter, else the form field (multipart) or the
 * property (JSON). Only http(s); refused when the server has no secret to sign webhooks with.
 * Where it points is checked when a delivery connects, not here: DNS may change in between.
 */
export function callbackUrlOf(request: FastifyRequest, secret: string): string | undefined {
  const query = (request.query as { callbackUrl?: string }).callbackUrl;
  const field = (request.body as { callbackUrl?: MultipartValue | string } | undefined)
    ?.callbackUrl;
  // Both are checked when both are given: a bad one is refused even beside a good one.
  const given = [query, typeof field === 'object' ? String(field.value) : field].filter(
    (url): url is string => url !== undefined && url !== '',
  );
  if (given.length === 0) return undefined;
  if (!secret) throw new AppError('WEBHOOKS_NOT_CONFIGURED');
  for (const url of given) {
    if (!HTTP_URL.test(url) || url.length > MAX_CALLBACK_URL_CHARS || !URL.canParse(url)) {
      throw new AppError('BAD_REQUEST', 'callbackUrl must be an http or https URL');
    }
  }
  return given[0];
}
