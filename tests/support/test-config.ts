import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type AppConfig, loadConfig } from '@imagerec/shared';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6390';

/** Config of the running test stack (scripts/test): its Redis, its database and its queue. */
export function stackConfig(overrides: Record<string, string> = {}): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    REDIS_URL: TEST_REDIS_URL,
    MONGODB_URL: process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27030/imagerec-e2e',
    QUEUE_NAME: process.env.QUEUE_NAME,
    ...overrides,
  });
}

/**
 * Config for one test file: the Redis and MongoDB that scripts/test started (or the
 * environment names), with a queue name and a database of its own.
 */
export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  const id = randomUUID().slice(0, 8);
  const mongoBase = (process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27030/test').replace(
    /\/[^/]*$/,
    '',
  );
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    REDIS_URL: TEST_REDIS_URL,
    MODEL_DIR: process.env.MODEL_DIR ?? `${REPO_ROOT}models`,
    MODEL_MIRROR_DIR: process.env.MODEL_MIRROR_DIR,
    // Each worker service a test starts gets a free port for its metrics and probes.
    WORKER_METRICS_PORT: '0',
    ...overrides,
    MONGODB_URL: `${mongoBase}/test-${id}`,
    QUEUE_NAME: `test-${id}`,
  });
}
