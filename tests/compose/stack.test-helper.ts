import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type FilePart, postParts } from '../support/multipart.js';
import { until } from '../support/poll.js';
import { REPO_ROOT } from '../support/test-config.js';

// The compose deployment as the tests reach it: its URL, docker and docker-compose, its containers.
// Set by scripts/test-compose once the stack is up; without them there is nothing to test.
export const BASE_URL = process.env.COMPOSE_TEST_URL ?? '';
export const ENV_FILE = process.env.COMPOSE_TEST_ENV_FILE ?? '';
export const PORT = process.env.COMPOSE_TEST_PORT ?? '';
export const DOCKER = process.env.COMPOSE_TEST_DOCKER ?? 'docker';
export const PROJECT = process.env.COMPOSE_PROJECT_NAME ?? '';
export const WORKERS = 3;

export const run = promisify(execFile);
// Compose reads variables from the shell before the env file: give it none of this process's
// (vitest sets NODE_ENV, for one), so that every call sees the stack's settings only.
const composeEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...(process.env.DOCKER_HOST && { DOCKER_HOST: process.env.DOCKER_HOST }),
  COMPOSE_PROJECT_NAME: PROJECT,
  DOCKER_BUILDKIT: '0',
  COMPOSE_DOCKER_CLI_BUILD: '0',
};
const sh = async (file: string, args: string[], input?: string) => {
  const env = file === 'docker-compose' ? composeEnv : process.env;
  const child = run(file, args, { maxBuffer: 64 * 1024 * 1024, env });
  if (input !== undefined) child.child.stdin?.end(input);
  return (await child).stdout;
};
const composeArgs = ['--env-file', ENV_FILE, '-f', join(REPO_ROOT, 'docker-compose.yml')];
export const compose = (...args: string[]) => sh('docker-compose', [...composeArgs, ...args]);
export const docker = (...args: string[]) => sh(DOCKER, args);

interface ContainerState {
  Id: string;
  RestartCount: number;
  State: { Status: string; Running: boolean; Pid: number; Health?: { Status: string } };
  Config: { Labels: Record<string, string> };
  NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> };
}
export const inspect = async (ids: string[]) =>
  JSON.parse(await docker('inspect', ...ids)) as ContainerState[];
export const projectContainers = async () => {
  const ids = (await docker('ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`))
    .split('\n')
    .filter(Boolean);
  return ids.length ? inspect(ids) : [];
};
export const serviceIds = async (service: string) =>
  (await compose('ps', '-q', service)).split('\n').filter(Boolean);
export const projectVolumes = async () =>
  (await docker('volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`))
    .split('\n')
    .filter(Boolean);

/** Up with three workers, and nginx answering (it starts once an API replica is healthy). */
export async function up() {
  await compose('up', '-d', '--scale', `worker=${WORKERS}`);
  await until('nginx answers /health', 180_000, async () =>
    (await fetch(`${BASE_URL}/health`)).ok ? true : undefined,
  );
}

/**
 * From inside the stack (an API container, on the stack's network): how many of the job ids
 * have their result stored in MongoDB, and how many results there are in all.
 */
export async function storedResults(ids: string[]) {
  const script = `
    import { readFileSync } from 'node:fs';
    import { loadConfig, PredictionRepository } from '@imagerec/shared';
    const ids = JSON.parse(readFileSync(0, 'utf8'));
    const repository = await PredictionRepository.connect(loadConfig());
    let found = 0;
    for (const id of ids) if (await repository.findByJobId(id)) found++;
    console.log(JSON.stringify({ found, total: await repository.count() }));
    await repository.close();`;
  const out = await sh(
    'docker-compose',
    [...composeArgs, 'exec', '-T', 'api', 'node', '--input-type=module', '-e', script],
    JSON.stringify(ids),
  );
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { found: number; total: number };
}

export interface JobView {
  id: string;
  status: string;
  predictions?: { index: number; label: string; score: number }[];
}
export interface JobRef {
  id: string;
  statusUrl: string;
}

export const post = (path: string, parts: FilePart[]) => postParts(BASE_URL, path, parts);

export const getJob = async (id: string, query = '') => {
  const res = await fetch(`${BASE_URL}/v1/jobs/${id}${query}`);
  return { status: res.status, view: (await res.json()) as JobView };
};

export async function untilFinished(id: string, timeoutMs = 180_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { view } = await getJob(id, '?waitMs=20000');
    if (view.status === 'completed' || view.status === 'failed') return view;
  }
  throw new Error(`job ${id} did not finish`);
}

/** Runs `fn` over `items`, `limit` at a time. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return results;
}
