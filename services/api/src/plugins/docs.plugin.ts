import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { IMAGE_FORMATS, OPEN_PATHS } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { errorSchema, htmlResponse } from '../schemas/common.schema.js';
import { callbackUrlQuery } from '../schemas/outbound.schema.js';
import { SESSION_SECURITY, SESSION_SECURITY_SCHEME } from './session.plugin.js';

const DOCS_PATH = '/docs';

/** The media types an upload's `image` part may have (the bytes decide; this guides clients). */
const IMAGE_MEDIA_TYPES = Object.keys(IMAGE_FORMATS).map((format) => `image/${format}`);

interface Operation {
  requestBody?: {
    required?: boolean;
    content?: Record<
      string,
      { encoding?: object; schema?: { properties?: Record<string, object> } }
    >;
  };
  responses?: Record<string, { description: string; content?: Record<string, object> }>;
  security?: object[];
}

/**
 * What the route schemas cannot say: which media types the upload part takes, and the answers
 * every guarded route can give (401 without a key when API_KEYS is set, 429 past the rate
 * limit), as JSON, or as HTML on the HTML page.
 */
function completeOperations(paths: Record<string, Record<string, Operation>>, keys: boolean) {
  for (const [path, operations] of Object.entries(paths)) {
    for (const operation of Object.values(operations)) {
      const form = operation.requestBody?.content?.['multipart/form-data'];
      if (form && operation.requestBody) {
        // The upload is the request: without it there is nothing to do (400 NO_IMAGE).
        operation.requestBody.required = true;
        form.encoding = { image: { contentType: IMAGE_MEDIA_TYPES.join(', ') } };
        // The route checks this field's value itself (the parser hands a field over as an object).
        const fields = form.schema?.properties;
        if (fields?.callbackUrl) fields.callbackUrl = callbackUrlQuery.callbackUrl;
      }
      if (OPEN_PATHS.has(path)) continue;
      const html = Object.values(operation.responses ?? {}).some((r) => r.content?.['text/html']);
      const answer = (
        description: string,
      ): { description: string; content: Record<string, object> } =>
        html
          ? htmlResponse(description)
          : { description, content: { 'application/json': { schema: errorSchema } } };
      operation.responses = {
        ...(keys &&
          operation.security?.length !== 0 && {
            401: answer('No valid API key (Authorization: Bearer)'),
          }),
        ...operation.responses,
        429: answer('Rate limit exceeded; see Retry-After'),
      };
      // A route's own security: the sign-in form is open, the page's routes take a session too.
      if (!keys) delete operation.security;
      else operation.security ??= [{ bearer: [] }];
    }
  }
}

/** OpenAPI 3 generated from the route schemas, at /docs (UI) and /docs/json. */
export const docsPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Image recognition API',
          description:
            'Upload a photo, get ImageNet labels from a pretrained MobileNetV2. Answers by job polling, ' +
            'long-polling, or a synchronous call with a timeout.',
          version: '1.0.0',
        },
        // Declared also without keys: @fastify/swagger resolves the routes' own security
        // (the history page's) against them; completeOperations then drops it.
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            session: SESSION_SECURITY_SCHEME,
          },
        },
        tags: [
          { name: 'jobs', description: 'Asynchronous classification' },
          { name: 'predict', description: 'Synchronous classification with a timeout' },
          { name: 'history', description: 'Past predictions' },
          { name: 'health', description: 'Liveness and readiness' },
          { name: 'session', description: "The history page's sign-in (when API_KEYS is set)" },
        ],
      },
      transformObject: (documentObject) => {
        if (!('openapiObject' in documentObject)) return documentObject.swaggerObject;
        const { openapiObject } = documentObject;
        completeOperations(
          (openapiObject.paths ?? {}) as Record<string, Record<string, Operation>>,
          app.config.security.apiKeys.length > 0,
        );
        return openapiObject;
      },
    });
    // Read-only, and linked from the history page: a browser signed in there may read them.
    app.addHook('onRoute', (route) => {
      if (route.url.startsWith(DOCS_PATH)) {
        route.schema = { ...route.schema, security: SESSION_SECURITY };
      }
    });
    await app.register(swaggerUi, { routePrefix: DOCS_PATH });
  },
  { name: 'docs' },
);
