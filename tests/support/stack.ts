import { fileURLToPath } from 'node:url';

/** Where the running stack that scripts/test started can be reached. */
export const API_URLS = (process.env.E2E_API_URLS ?? 'http://127.0.0.1:3100 http://127.0.0.1:3101')
  .trim()
  .split(/\s+/)
  .map((u) => u.replace(/\/$/, ''));
export const API_URL = API_URLS[0] as string;
export const NGINX_URL = (process.env.E2E_NGINX_URL ?? 'http://127.0.0.1:8090').replace(/\/$/, '');
export const WORKERS = Number(process.env.E2E_WORKERS ?? 2);
/** Each worker's /metrics, /healthz and /readyz listener. */
export const WORKER_URLS = (
  process.env.E2E_WORKER_URLS ?? 'http://127.0.0.1:9410 http://127.0.0.1:9411'
)
  .trim()
  .split(/\s+/)
  .map((u) => u.replace(/\/$/, ''));
/** Where the stack's processes write their logs (one file each). */
export const LOG_DIR =
  process.env.E2E_LOG_DIR ?? fileURLToPath(new URL('../../var/test/logs/', import.meta.url));
/** Where tests leave what a person may want to look at (screenshots). */
export const OUTPUT_DIR =
  process.env.RUN_DIR ?? fileURLToPath(new URL('../../var/test/', import.meta.url));
/**
 * The stack may reach only two loopback ports from here on (OUTBOUND_ALLOWED_HOSTS in scripts/test):
 * the end-to-end tests' webhook receiver on it, their image origin on the next.
 */
export const OUTBOUND_PORT = Number(process.env.E2E_OUTBOUND_PORT ?? 8190);
/** The stack's webhook signing secret, which the receiver verifies with. */
export const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET ?? '';
