import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  ClassifyQueue,
  type ClassifyResult,
  createRedis,
  PredictionRepository,
  PredictionStatus,
} from '@imagerec/shared';
import { imageJob } from '@imagerec/test-support/image-job';
import { testConfig } from '@imagerec/test-support/test-config';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerService } from '../src/worker.service.js';

// The built worker, as scripts/up and the containers run it (scripts/test builds first).
const WORKER_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const JOBS = 48;

interface LogLine {
  msg: string;
  jobId?: string;
  requestId?: string;
  port?: number;
  signal?: string;
}

/** The worker as its own process, with its JSON log lines as they come. */
function startWorker(env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [WORKER_MAIN], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    for (const w of waiters.filter((w) => w.match(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  const next = (match: (l: LogLine) => boolean) =>
    new Promise<LogLine>((resolve) => {
      const seen = lines.find(match);
      if (seen) resolve(seen);
      else waiters.push({ match, resolve });
    });
  return { child, lines, next };
}

describe('worker process: SIGTERM in the middle of a burst', () => {
  const config = testConfig({ MAX_BATCH: '8', MAX_BATCH_DELAY_MS: '20', INTRA_OP_THREADS: '1' });
  const redis = createRedis(config.redis.url);
  const queue = new ClassifyQueue(redis, config.queue);
  // One waitUntilFinished listener per job.
  queue.bull.setMaxListeners(0);
  const events = new QueueEvents(config.queue.name, { connection: createRedis(config.redis.url) });
  let repository: PredictionRepository;

  beforeAll(async () => {
    repository = await PredictionRepository.connect(config);
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await events.close();
    await queue.bull.obliterate({ force: true });
    await queue.close();
    await redis.quit();
    await repository.dropDatabase();
    await repository.close();
  });

  it('finishes the jobs in hand, leaves none active, loses none', async () => {
    const worker = startWorker({
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      REDIS_URL: config.redis.url,
      MONGODB_URL: config.mongo.url,
      QUEUE_NAME: config.queue.name,
      MODEL_DIR: config.model.dir,
      ...(config.model.mirrorDir && { MODEL_MIRROR_DIR: config.model.mirrorDir }),
      MAX_BATCH: '8',
      MAX_BATCH_DELAY_MS: '20',
      INTRA_OP_THREADS: '1',
      WORKER_METRICS_PORT: '0',
    });
    // 'close': the process has exited and its output has been read to the end.
    const exited = once(worker.child, 'close');
    try {
      const { port } = await worker.next((l) => l.msg === 'metrics and probes listening');
      await worker.next((l) => l.msg === 'worker started');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(await ready.json()).toEqual({
        status: 'ok',
        checks: { redis: true, mongo: true, model: true, queue: true },
      });

      const jobs = await Promise.all(
        Array.from({ length: JOBS }, (_, i) =>
          imageJob(i % 2 ? 'cat.png' : 'parrot.jpg', undefined, { requestId: `req-${i}` }),
        ),
      );
      await queue.enqueue(jobs);
      // Mid-burst: the first job is done, others are in hand.
      await worker.next((l) => l.msg === 'job classified');
      const inHand = await queue.bull.getActiveCount();
      worker.child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      expect(worker.lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(
        true,
      );
      expect(worker.lines.at(-1)?.msg).toBe('stopped');

      const counts = await queue.bull.getJobCounts('active', 'completed', 'failed');
      expect(counts.active).toBe(0);
      expect(counts.failed).toBe(0);
      // What it took, it finished; the rest waits in the queue for another worker.
      const done = worker.lines.filter((l) => l.msg === 'job classified');
      expect(done.length).toBe(counts.completed);
      expect(inHand).toBeGreaterThan(0);
      expect(counts.completed).toBeGreaterThan(inHand);
      expect(counts.completed).toBeLessThan(JOBS);
      expect(await queue.bull.getWorkers()).toHaveLength(0);
      // Each line about a job names the request it came from.
      const requestOf = new Map(jobs.map((j) => [j.id, j.data.requestId]));
      for (const line of done) expect(line.requestId).toBe(requestOf.get(line.jobId ?? ''));

      const successor = await createWorkerService(config);
      try {
        const results = await Promise.all(
          jobs.map(async (j) => {
            const job = await queue.bull.getJob(j.id);
            return job?.waitUntilFinished(events, 60_000) as Promise<ClassifyResult>;
          }),
        );
        expect(results.every((r) => r.predictions.length === 5)).toBe(true);
      } finally {
        await successor.close();
      }
      expect(await repository.count()).toBe(JOBS);
      for (const j of jobs) {
        expect((await repository.findByJobId(j.id))?.status).toBe(PredictionStatus.Completed);
      }
    } finally {
      worker.child.kill('SIGKILL');
    }
  }, 120_000);
});
