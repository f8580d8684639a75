import {
  type AppConfig,
  type ClassifyJobData,
  type ClassifyResult,
  createRedis,
  PredictionRepository,
} from '@imagerec/shared';
import { multipartBody } from '@imagerec/test-support/multipart';
import { testConfig } from '@imagerec/test-support/test-config';
import { Queue } from 'bullmq';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { buildApp } from '../../src/app.js';

/** A built API on a config of its own (own queue, own database), and what a test reads beside it. */
export interface ApiHarness {
  config: AppConfig;
  app: FastifyInstance;
  queue: Queue<ClassifyJobData, ClassifyResult>;
  repository: PredictionRepository;
  /** A multipart POST through inject(), with extra headers and text fields if given. */
  post(
    url: string,
    parts: Parameters<typeof multipartBody>[0],
    headers?: Record<string, string>,
    fields?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  /**
   * Another API on this one's queue and database (a second replica, or one setting changed),
   * closed when the calling test finishes.
   */
  replica(change?: (config: AppConfig) => AppConfig): Promise<FastifyInstance>;
}

/**
 * Environment overrides for testConfig(), or a function that builds the whole config when the
 * API starts (after the test's own beforeAll hooks registered before it, e.g. receivers' ports).
 */
export type ApiSetup = Record<string, string> | (() => AppConfig);

async function openApi(setup: ApiSetup): Promise<ApiHarness & { close(): Promise<void> }> {
  const config = typeof setup === 'function' ? setup() : testConfig(setup);
  const app = await buildApp(config);
  const queue = new Queue<ClassifyJobData, ClassifyResult>(config.queue.name, {
    connection: createRedis(config.redis.url),
  });
  const repository = await PredictionRepository.connect(config);
  return {
    config,
    app,
    queue,
    repository,
    async post(url, parts, headers = {}, fields = {}) {
      const body = await multipartBody(parts, fields);
      return app.inject({
        method: 'POST',
        url,
        payload: body.payload,
        headers: { ...body.headers, ...headers },
      });
    },
    async replica(change = (same) => same) {
      const other = await buildApp(change(config));
      onTestFinished(() => other.close());
      return other;
    },
    // Closes the API and removes its queue and database.
    async close() {
      await app.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await repository.dropDatabase();
      await repository.close();
    },
  };
}

/**
 * The API of one describe block: called while tests are collected, it starts the API before the
 * block's tests and closes it, queue and database removed, after them.
 */
export function useApi(setup: ApiSetup = {}): ApiHarness {
  let started: Awaited<ReturnType<typeof openApi>> | undefined;
  beforeAll(async () => {
    started = await openApi(setup);
  });
  afterAll(() => started?.close());
  const current = () => {
    if (!started) throw new Error('useApi(): the API starts in beforeAll, read it in tests');
    return started;
  };
  return {
    get config() {
      return current().config;
    },
    get app() {
      return current().app;
    },
    get queue() {
      return current().queue;
    },
    get repository() {
      return current().repository;
    },
    post: (...args) => current().post(...args),
    replica: (change) => current().replica(change),
  };
}

/** An API for one test: it closes, queue and database removed, when that test finishes. */
export async function startApi(setup: ApiSetup = {}): Promise<ApiHarness> {
  const api = await openApi(setup);
  onTestFinished(() => api.close());
  return api;
}
