/** Where the running stack that scripts/test started can be reached. */
export const API_URLS = (process.env.E2E_API_URLS ?? 'http://127.0.0.1:3100 http://127.0.0.1:3101')
  .trim()
  .split(/\s+/)
  .map((u) => u.replace(/\/$/, ''));
export const API_URL = API_URLS[0] as string;
export const NGINX_URL = (process.env.E2E_NGINX_URL ?? 'http://127.0.0.1:8090').replace(/\/$/, '');
export const WORKERS = Number(process.env.E2E_WORKERS ?? 2);
