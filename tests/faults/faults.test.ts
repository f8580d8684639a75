import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type ClassifyJobData, createRedis, QueueName } from '@imagerec/shared';
import { Queue, QueueEvents } from 'bullmq';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UploadAnswer, uploadFresh } from '../support/fresh-upload.js';
import { API_URL, NGINX_URL } from '../support/stack.js';
import { REPO_ROOT } from '../support/test-config.js';

/**
 * Faults with the real processes of the stack scripts/test started: workers killed, Redis and
 * MongoDB stopped, an API restarted. Each test leaves every process running again.
 */
const run = promisify(execFile);
const ctl = (action: string, name: string) =>
  run('bash', [`${REPO_ROOT}scripts/lib/stack-ctl.sh`, action, name], { env: process.env });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stdout.write(`[faults] ${msg}\n`);

const upload = (base: string, path = '/v1/jobs', files = 1) => uploadFresh(base, path, files);

/** `clients` loops of uploads until `stop()`; every answer kept. */
function load(clients: number, base = NGINX_URL) {
  const answers: UploadAnswer[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      answers.push(await upload(base));
      await sleep(20);
    }
  });
  return {
    answers,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

describe('faults with real processes', () => {
  let queue: Queue<ClassifyJobData>;
  let events: QueueEvents;
  let mongo: Connection;
  const stalled: string[] = [];

  /** The stored documents of these job ids, by status. */
  async function stored(ids: string[]) {
    const docs = await mongo
      .collection<{ _id: string; status: string; error?: string }>('predictions')
      .find({}, { projection: { _id: 1, status: 1, error: 1 } })
      .toArray();
    const wanted = new Set(ids);
    return docs.filter((d) => wanted.has(d._id));
  }

  /** Waits until every job has its completed document; returns the seconds it took. */
  async function allCompleted(ids: string[], timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const docs = await stored(ids);
      const done = docs.filter((d) => d.status === 'completed').length;
      if (done === ids.length) return (Date.now() - started) / 1000;
      const failed = docs.filter((d) => d.status !== 'completed');
      if (failed.length > 0) throw new Error(`jobs failed: ${JSON.stringify(failed.slice(0, 3))}`);
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `${ids.length - done} of ${ids.length} jobs not completed in ${timeoutMs} ms`,
        );
      }
      await sleep(500);
    }
  }

  const accepted = (answers: UploadAnswer[]) =>
    answers.filter((a) => a.status === 200 || a.status === 202).flatMap((a) => a.ids);

  beforeAll(async () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6390';
    // Through the Redis outage these reconnect by themselves; their errors are expected.
    const connection = () => createRedis(url).on('error', () => {});
    queue = new Queue(QueueName.Classify, { connection: connection() });
    events = new QueueEvents(QueueName.Classify, { connection: connection() });
    events.on('stalled', ({ jobId }) => stalled.push(jobId));
    events.on('error', () => {});
    queue.on('error', () => {});
    await events.waitUntilReady();
    mongo = await mongoose
      .createConnection(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27030/imagerec-e2e')
      .asPromise();
  });

  afterAll(async () => {
    await events.close();
    await queue.close();
    await mongo.close();
  });

  it('kill -9 of a worker mid-batch: its jobs complete on the other worker, each stored once', async () => {
    await ctl('pause', 'worker-2');
    try {
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => upload(NGINX_URL, '/v1/jobs', 10)),
      );
      const ids = accepted(answers);
      expect(ids).toHaveLength(300);
      // worker-1 alone is working through them: kill it with jobs in its hands.
      let held: string[] = [];
      for (let i = 0; i < 200 && held.length === 0; i++) {
        held = (await queue.getActive()).map((j) => String(j.id));
        if (held.length === 0) await sleep(50);
      }
      expect(held.length).toBeGreaterThan(0);
      await ctl('kill', 'worker-1');
      await ctl('resume', 'worker-2');
      const seconds = await allCompleted(ids, 90_000);
      log(
        `worker killed holding ${held.length} jobs; all 300 completed ${seconds.toFixed(1)} s later`,
      );
      const docs = await stored(ids);
      expect(docs).toHaveLength(300);
      expect(new Set(docs.map((d) => d._id)).size).toBe(300);
      expect(held.filter((id) => stalled.includes(id)).length).toBeGreaterThan(0);
    } finally {
      await ctl('resume', 'worker-2').catch(() => {});
      await ctl('start', 'worker-1');
    }
  }, 180_000);

  it('Redis stopped 5 s under load: 503 with Retry-After at once, recovery, accepted jobs complete', async () => {
    // Workers paused: the jobs accepted before the outage are still waiting in Redis through it.
    await ctl('pause', 'worker-1');
    await ctl('pause', 'worker-2');
    let before: string[] = [];
    const traffic = load(4);
    try {
      before = accepted(
        await Promise.all(Array.from({ length: 10 }, () => upload(NGINX_URL, '/v1/jobs', 5))),
      );
      expect(before).toHaveLength(50);
      await ctl('stop', 'redis');
      const down = Date.now();
      await sleep(5000);
      await ctl('start', 'redis');
      log(`Redis down ${((Date.now() - down) / 1000).toFixed(1)} s`);
      await sleep(3000);
    } finally {
      await ctl('resume', 'worker-1');
      await ctl('resume', 'worker-2');
    }
    const answers = await traffic.stop();
    const refused = answers.filter((a) => a.status === 503);
    log(`${answers.length} uploads under load: ${refused.length} got 503`);
    expect(refused.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status !== 202 && a.status !== 503)).toEqual([]);
    for (const a of refused) {
      expect(a.retryAfter).toMatch(/^\d+$/);
      expect(a.ms).toBeLessThan(1000);
    }
    expect(answers.at(-1)?.status).toBe(202);
    const seconds = await allCompleted([...before, ...accepted(answers)], 90_000);
    log(`every accepted job completed ${seconds.toFixed(1)} s after Redis came back`);
  }, 180_000);

  it('MongoDB stopped 5 s under load: 503 with Retry-After within a second, every job stored after', async () => {
    const traffic = load(4);
    await sleep(1000);
    await ctl('stop', 'ferretdb');
    const down = Date.now();
    const history: UploadAnswer[] = [];
    while (Date.now() - down < 5000) {
      const started = Date.now();
      const res = await fetch(`${NGINX_URL}/v1/predictions?limit=1`);
      await res.arrayBuffer();
      history.push({
        status: res.status,
        ms: Date.now() - started,
        retryAfter: res.headers.get('retry-after'),
        ids: [],
        instance: res.headers.get('x-instance'),
      });
      await sleep(250);
    }
    await ctl('start', 'ferretdb');
    log(`MongoDB down ${((Date.now() - down) / 1000).toFixed(1)} s`);
    await sleep(3000);
    const answers = await traffic.stop();
    // Reads that need MongoDB fail within a second; an upload's own transfer and decoding come on top.
    for (const [answered, withinMs] of [
      [history, 1000],
      [answers, 1500],
    ] as const) {
      for (const a of answered.filter((x) => x.status === 503)) {
        expect(a.retryAfter).toMatch(/^\d+$/);
        expect(a.ms).toBeLessThan(withinMs);
      }
    }
    expect(history.filter((h) => h.status === 503).length).toBeGreaterThan(0);
    // An upload needs only Redis (queue, content cache), so uploads go on being accepted; their
    // results wait in the workers' retries until MongoDB is back.
    expect(answers.filter((a) => a.status !== 202 && a.status !== 503)).toEqual([]);
    const ids = accepted(answers);
    const seconds = await allCompleted(ids, 90_000);
    log(`${ids.length} accepted jobs all stored ${seconds.toFixed(1)} s after MongoDB came back`);
    expect(await stored(ids)).toHaveLength(ids.length);
  }, 180_000);

  it('an API restarted during long-polls: an answer or a clean connection error, job state intact', async () => {
    await ctl('pause', 'worker-1');
    await ctl('pause', 'worker-2');
    let ids: string[] = [];
    try {
      ids = (await upload(API_URL, '/v1/jobs', 8)).ids;
      expect(ids).toHaveLength(8);
      const polls = ids.map(async (id) => {
        try {
          const res = await fetch(`${API_URL}/v1/jobs/${id}?waitMs=20000`);
          return { status: res.status, body: (await res.json()) as { id: string; status: string } };
        } catch (err) {
          return { status: 0, error: String(err) };
        }
      });
      await sleep(500);
      const restart = Date.now();
      const stopping = ctl('stop', 'api-1');
      const outcomes = await Promise.all(polls);
      log(`long-polls answered within ${Date.now() - restart} ms of SIGTERM`);
      expect(Date.now() - restart).toBeLessThan(5000);
      await stopping;
      log(`the API exited ${Date.now() - restart} ms after SIGTERM`);
      expect(Date.now() - restart).toBeLessThan(10_000);
      for (const o of outcomes) {
        if (o.status === 0) continue;
        expect(o.status).toBe(200);
        expect(o.body?.status).toBe('queued');
      }
      await ctl('start', 'api-1');
    } finally {
      await ctl('resume', 'worker-1');
      await ctl('resume', 'worker-2');
    }
    await allCompleted(ids, 60_000);
    for (const id of ids) {
      const view = (await (await fetch(`${API_URL}/v1/jobs/${id}`)).json()) as { status: string };
      expect(view.status).toBe('completed');
    }
  }, 120_000);
});
