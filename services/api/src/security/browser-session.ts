/**
 * What the history page's session cookie holds: which API key signed in, and until when.
 * The cookie is signed (@fastify/cookie), so a browser can read it but not change it; the
 * expiry inside it holds even when a browser keeps the cookie longer than its Max-Age.
 */
export const SESSION_COOKIE = 'imagerec_session';

/** The cookie's value for a sign-in with key `keyId` at `nowMs`, lasting `ttlS` seconds. */
export const sessionValue = (keyId: string, nowMs: number, ttlS: number) =>
  `${Math.floor(nowMs / 1000) + ttlS}.${keyId}`;

/** The key id a (verified) cookie value names, or null when it is malformed or expired. */
export function sessionKeyId(value: string, nowMs: number): string | null {
  const match = /^(\d{1,12})\.(.+)$/s.exec(value);
  if (!match?.[1] || !match[2]) return null;
  return Number(match[1]) * 1000 > nowMs ? match[2] : null;
}
