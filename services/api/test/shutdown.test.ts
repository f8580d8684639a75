import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRedis, PredictionRepository } from '@imagerec/shared';
import { filePart, multipartBody } from '@imagerec/test-support/multipart';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import { testConfig } from '@imagerec/test-support/test-config';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';

// The built server, as scripts/up and the containers run it (scripts/test builds first).
const SERVER = fileURLToPath(new URL('../dist/server.js', import.meta.url));

describe('API process: SIGTERM', () => {
  const config = testConfig();
  const redis = createRedis(config.redis.url);
  const queue = new Queue(config.queue.name, { connection: redis });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
    const repository = await PredictionRepository.connect(config);
    await repository.dropDatabase();
    await repository.close();
  });

  it('answers the request in flight, then stops accepting and exits 0', async () => {
    const child = spawn(process.execPath, [SERVER], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        REDIS_URL: config.redis.url,
        MONGODB_URL: config.mongo.url,
        QUEUE_NAME: config.queue.name,
        API_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const closed = once(child, 'close');
    const lines: { msg: string; signal?: string }[] = [];
    const listening = new Promise<string>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (text) => {
        const line = JSON.parse(text) as { msg: string };
        lines.push(line);
        const url = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(line.msg)?.[1];
        if (url) resolve(url);
      });
    });
    try {
      const base = await listening;
      const body = await multipartBody([filePart(join(IMAGES_DIR, 'cat.png'))]);
      const accepted = await fetch(`${base}/v1/jobs`, {
        method: 'POST',
        body: body.payload,
        headers: body.headers,
      });
      const [{ id }] = ((await accepted.json()) as { jobs: [{ id: string }] }).jobs;

      // No worker: the long-poll would wait 20 s; shutdown answers it with the job's state.
      const started = Date.now();
      const inFlight = fetch(`${base}/v1/jobs/${id}?waitMs=20000`);
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      const answer = await inFlight;
      expect(answer.status).toBe(200);
      // The client's keep-alive connection ends with it, so the server need not wait on it.
      expect(answer.headers.get('connection')).toBe('close');
      expect(await answer.json()).toMatchObject({ id, status: 'queued' });
      expect(Date.now() - started).toBeLessThan(5000);

      const [code] = await closed;
      expect(code).toBe(0);
      expect(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();
      // What it accepted stays queued for the workers.
      expect(await (await queue.getJob(id))?.getState()).toBe('prioritized');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
