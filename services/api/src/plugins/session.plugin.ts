import { randomBytes } from 'node:crypto';
import cookie, { type CookieSerializeOptions } from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiKeys } from '../security/api-keys.js';
import { SESSION_COOKIE, sessionKeyId, sessionValue } from '../security/browser-session.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The configured API keys (empty: no key needed). */
    apiKeys: ApiKeys;
    /** The history page's sign-in, kept in a signed cookie. */
    browserSession: {
      /** The id of the key the request's session cookie names, while valid and configured. */
      keyId(request: FastifyRequest): string | null;
      start(reply: FastifyReply, keyId: string): void;
      end(reply: FastifyReply): void;
    };
  }
}

/** The routes a signed-in browser may reach say so in their OpenAPI security (see docs/security.md). */
export const SESSION_SECURITY: { [scheme: string]: string[] }[] = [{ bearer: [] }, { session: [] }];
export const SESSION_SECURITY_SCHEME = {
  type: 'apiKey',
  in: 'cookie',
  name: SESSION_COOKIE,
} as const;

export const acceptsSession = (request: FastifyRequest) =>
  Boolean(
    (request.routeOptions.schema?.security as object[] | undefined)?.some((s) => 'session' in s),
  );

const CSRF_COOKIE = 'imagerec_csrf';

/**
 * Signed, HttpOnly, SameSite=Strict; Secure when the request came over TLS, which behind nginx
 * Fastify reads from X-Forwarded-Proto of a TRUST_PROXY address ('auto').
 */
const COOKIE: CookieSerializeOptions = {
  path: '/',
  httpOnly: true,
  sameSite: 'strict',
  secure: 'auto',
  signed: true,
};

/** A form field: a string from an urlencoded form, an object with a value from a multipart one. */
const formField = (body: unknown, name: string) => {
  const field = (body as Record<string, unknown> | undefined)?.[name];
  if (typeof field === 'string') return field;
  const value = (field as { value?: unknown } | undefined)?.value;
  return typeof value === 'string' ? value : undefined;
};

/**
 * Cookies (signed with SESSION_SECRET), CSRF tokens for the page's forms (their secret in a
 * cookie of its own), urlencoded form bodies (the sign-in and sign-out forms), and the
 * session a sign-in starts.
 */
export const sessionPlugin = fp(
  async (app: FastifyInstance) => {
    const { security } = app.config;
    const keys = new ApiKeys(security.apiKeys);
    app.decorate('apiKeys', keys);

    if (keys.enabled && !security.session.secret) {
      app.log.warn(
        'SESSION_SECRET is unset: browser sign-ins hold on this process only, until it restarts',
      );
    }
    await app.register(cookie, {
      secret: security.session.secret ?? randomBytes(32).toString('base64'),
    });
    await app.register(formbody, { bodyLimit: 4096 });
    await app.register(csrf, {
      sessionPlugin: '@fastify/cookie',
      cookieKey: CSRF_COOKIE,
      cookieOpts: COOKIE,
      getToken: (request) => formField(request.body, '_csrf'),
    });

    const { ttlS } = security.session;
    app.decorate('browserSession', {
      keyId(request: FastifyRequest) {
        const raw = request.cookies[SESSION_COOKIE];
        if (!keys.enabled || !raw) return null;
        const { valid, value } = request.unsignCookie(raw);
        const id = valid && value ? sessionKeyId(value, Date.now()) : null;
        return id && keys.has(id) ? id : null;
      },
      start(reply: FastifyReply, keyId: string) {
        reply.setCookie(SESSION_COOKIE, sessionValue(keyId, Date.now(), ttlS), {
          ...COOKIE,
          maxAge: ttlS,
        });
        // A new CSRF secret with the session: tokens handed out before the sign-in stop working.
        reply.clearCookie(CSRF_COOKIE, COOKIE);
      },
      end(reply: FastifyReply) {
        reply.clearCookie(SESSION_COOKIE, COOKIE).clearCookie(CSRF_COOKIE, COOKIE);
      },
    });
  },
  { name: 'session' },
);
