import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImagerecClient, type JobView, type PredictAnswer } from '@imagerec/client';
import { createRedis, MetricName } from '@imagerec/shared';
import { Queue, QueueEvents } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { noisePng } from '../support/images.js';
import { API_URLS, LOG_DIR, NGINX_URL, WORKER_URLS, WORKERS } from '../support/stack.js';
import { stackConfig } from '../support/test-config.js';

interface LogLine {
  msg?: string;
  reqId?: string;
  requestId?: string;
  request_id?: string;
  jobId?: string;
  jobIds?: string[];
}

/** Sum of a metric's samples (matching a label subset) over Prometheus texts. */
const total = (texts: string[], name: string, labels: Record<string, string> = {}) =>
  texts
    .flatMap((t) => t.split('\n'))
    .filter(
      (l) =>
        l.startsWith(`${name}{`) &&
        Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    )
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

const scrape = (urls: string[]) =>
  Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()));

/** Every JSON line of the stack's logs that mentions `text`, by log file. */
function grepLogs(text: string): Map<string, LogLine[]> {
  const found = new Map<string, LogLine[]>();
  for (const file of readdirSync(LOG_DIR).filter((f) => f.endsWith('.log'))) {
    const lines = readFileSync(join(LOG_DIR, file), 'utf8')
      .split('\n')
      .filter((l) => l.includes(text) && l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
    if (lines.length) found.set(file.replace(/\.log$/, ''), lines);
  }
  return found;
}

describe('operations of the running stack', () => {
  it('each worker answers its probes and exports its metrics', async () => {
    expect(WORKER_URLS).toHaveLength(WORKERS);
    for (const url of WORKER_URLS) {
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: 'ok',
        checks: { redis: true, mongo: true, model: true, queue: true },
      });
    }
    const texts = await scrape(WORKER_URLS);
    for (const text of texts) {
      expect(text).toMatch(
        new RegExp(`^${MetricName.ModelLoad}\\{service="worker"\\} [0-9.]+$`, 'm'),
      );
      expect(text).toContain(`# TYPE ${MetricName.BatchSize} histogram`);
      expect(text).toMatch(/^process_cpu_seconds_total\{service="worker"\}/m);
    }
  });

  it("follows one request id from nginx through the API into the worker's log lines", async () => {
    const requestId = `e2e-trace-${randomUUID()}`;
    const bytes = await noisePng(24);
    const before = total(await scrape(WORKER_URLS), MetricName.ImagesClassified, {
      precision: stackConfig().model.precision,
    });

    const res = await new ImagerecClient({ baseUrl: NGINX_URL }).predict(
      { filename: 'trace.png', bytes },
      { timeoutMs: 30_000, requestId },
    );
    expect(res.status).toBe(200);
    expect(res.requestId).toBe(requestId);
    const { id } = res.body;

    // Log lines reach their files a moment after they happen (pino writes asynchronously, and
    // the answer can be out before its own line): wait for the API's and the worker's.
    const written = (logs: ReturnType<typeof grepLogs>) =>
      [...logs].some(
        ([f, lines]) => f.startsWith('api-') && lines.some((l) => l.msg === 'job answered'),
      ) && [...logs.keys()].some((k) => k.startsWith('worker-'));
    let logs = grepLogs(requestId);
    for (let i = 0; i < 20 && !written(logs); i++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = grepLogs(requestId);
    }
    expect(logs.get('nginx-access')?.[0]?.request_id).toBe(requestId);
    const api = [...logs].filter(([file]) => file.startsWith('api-')).flatMap(([, l]) => l);
    expect(api.find((l) => l.msg === 'job answered')?.jobIds).toEqual([id]);
    expect(api.every((l) => l.reqId === requestId)).toBe(true);
    const worker = [...logs].filter(([file]) => file.startsWith('worker-')).flatMap(([, l]) => l);
    expect(worker.find((l) => l.msg === 'job classified')).toMatchObject({ jobId: id, requestId });

    const after = total(await scrape(WORKER_URLS), MetricName.ImagesClassified, {
      precision: stackConfig().model.precision,
    });
    expect(after).toBeGreaterThanOrEqual(before + 1);
  });

  it('100 identical predicts in flight through nginx run inference once', async () => {
    const config = stackConfig();
    const classified = async () =>
      total(await scrape(WORKER_URLS), MetricName.ImagesClassified, {
        precision: config.model.precision,
      });
    const queue = new Queue(config.queue.name, { connection: createRedis(config.redis.url) });
    const events = new QueueEvents(config.queue.name, {
      connection: createRedis(config.redis.url),
    });
    await events.waitUntilReady();
    let joined = 0;
    events.on('deduplicated', () => joined++);
    const client = new ImagerecClient({ baseUrl: NGINX_URL });
    const bytes = await noisePng(24);
    const before = await classified();
    // Paused until every upload has reached the queue, so all are in flight together: one that
    // came after the job had ended would be answered from the cache instead (or run again, if
    // it read the cache just before the result was stored and queued just after).
    await queue.pause();
    let answers: PredictAnswer[];
    try {
      const predicts = Promise.all(
        Array.from({ length: 100 }, () =>
          client.predict({ filename: 'same.png', bytes }, { timeoutMs: 30_000 }),
        ),
      );
      for (let i = 0; i < 200 && joined < 99; i++) await new Promise((r) => setTimeout(r, 100));
      expect(joined).toBe(99);
      await queue.resume();
      answers = await predicts;
    } finally {
      await queue.resume();
      await Promise.all([queue.close(), events.close()]);
    }
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
    const views = answers.map((a) => a.body as JobView);
    // Both API processes answered, every answer names the one job.
    expect(new Set(views.map((v) => v.id)).size).toBe(1);
    expect(views.every((v) => v.status === 'completed' && !v.cached)).toBe(true);
    expect((await classified()) - before).toBe(1);
  });

  it('the API exports request durations and queue depth (not through nginx); /admin/queues is served', async () => {
    const [text = ''] = await scrape([API_URLS[0] as string]);
    expect(
      total([text], `${MetricName.HttpRequestDuration}_count`, { route: '/v1/predict' }),
    ).toBeGreaterThan(0);
    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed']) {
      expect(text).toMatch(
        new RegExp(`^${MetricName.QueueJobs}\\{state="${state}",service="api"\\} \\d+$`, 'm'),
      );
    }
    // Not from outside: Prometheus scrapes the API processes themselves.
    const outside = await fetch(`${NGINX_URL}/metrics`);
    expect(outside.status).toBe(404);
    expect(await outside.text()).not.toContain(MetricName.QueueJobs);
    // Nor the autoscaler's queue depth, which it reads from the API inside the cluster.
    const depth = await fetch(`${NGINX_URL}/queue-depth`);
    expect(depth.status).toBe(404);
    expect(await depth.json()).toEqual({
      error: { code: 'NOT_FOUND', message: 'No route GET /queue-depth' },
    });
    const board = await fetch(`${NGINX_URL}/admin/queues`);
    expect(board.status).toBe(200);
    expect(await board.text()).toContain('<div id="root">');
  });
});
