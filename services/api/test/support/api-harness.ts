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
  /** Closes the API and removes its queue and database. */
  close(): Promise<void>;
}

export async function startApi(env: Record<string, string> = {}): Promise<ApiHarness> {
  const config = testConfig(env);
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
    async close() {
      await app.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await repository.dropDatabase();
      await repository.close();
    },
  };
}
