import { readFileSync } from 'node:fs';
import { EXPIRED_REASON } from '@imagerec/shared';
import { describe, expect, it } from 'vitest';
import { expectDemoCalls } from '../support/demo-calls.js';
import { until } from '../support/poll.js';
import { expectOneCounter, remainingWithForgedAddresses } from '../support/rate-limit.js';
import { uniqueImage } from '../support/unique-image.js';
import {
  BASE_URL,
  compose,
  DOCKER,
  docker,
  ENV_FILE,
  getJob,
  inspect,
  type JobRef,
  type JobView,
  mapLimit,
  PORT,
  PROJECT,
  post,
  projectContainers,
  projectVolumes,
  run,
  serviceIds,
  storedResults,
  untilFinished,
  up,
  WORKERS,
} from './stack.test-helper.js';

describe.skipIf(!BASE_URL)('the compose deployment, built and running', () => {
  const bulkIds: string[] = [];
  let victim = '';

  it('publishes only nginx, on the address and port asked for', async () => {
    expect((await compose('port', 'nginx', '80')).trim()).toBe(`127.0.0.1:${PORT}`);
    for (const [service, port] of [
      ['api', '3000'],
      ['worker', '3000'],
      ['redis', '6379'],
      ['mongo', '27017'],
    ] as const) {
      const published = await compose('port', service, port).catch(() => '');
      expect(published.trim().replace(/^:0$/, ''), `${service}:${port}`).toBe('');
    }
    const containers = await projectContainers();
    const count = (service: string) =>
      containers.filter((c) => c.Config.Labels['com.docker.compose.service'] === service).length;
    expect(['nginx', 'api', 'worker', 'redis', 'mongo'].map(count)).toEqual([1, 2, WORKERS, 1, 1]);
    const bindings = containers.flatMap((c) =>
      Object.entries(c.NetworkSettings.Ports ?? {}).flatMap(([port, hosts]) =>
        (hosts ?? []).map(
          (h) =>
            `${c.Config.Labels['com.docker.compose.service']} ${port} ${h.HostIp}:${h.HostPort}`,
        ),
      ),
    );
    expect(bindings).toEqual([`nginx 80/tcp 127.0.0.1:${PORT}`]);
  });

  it('limits a client by its own address: nginx sets X-Forwarded-For, the API believes only the edge network', async () => {
    expectOneCounter(await remainingWithForgedAddresses(BASE_URL));
  });

  it('refuses Redis and MongoDB clients on the stack network that lack the credentials', async () => {
    const script = `
      import { Redis } from 'ioredis';
      import mongoose from 'mongoose';
      const out = {};
      const redis = new Redis('redis://redis:6379', { enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on('error', () => {});
      try { await redis.set('intruder', '1'); out.redis = 'written'; } catch (err) { out.redis = err.message; }
      redis.disconnect();
      const db = await mongoose.createConnection('mongodb://mongo:27017/imagerec', { serverSelectionTimeoutMS: 5000 }).asPromise();
      try { await db.collection('predictions').insertOne({ _id: 'intruder' }); out.mongo = 'written'; } catch (err) { out.mongo = err.message; }
      await db.close();
      console.log(JSON.stringify(out));`;
    const out = await compose('exec', '-T', 'api', 'node', '--input-type=module', '-e', script);
    const answer = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
    expect(answer.redis).toMatch(/NOAUTH/);
    expect(answer.mongo).toMatch(/auth/i);
  });

  it("answers the original service's demo calls: POST /predict with `image`, GET /", async () => {
    await expectDemoCalls(BASE_URL);
  });

  it('takes a job, then answers its polls until it is completed', async () => {
    const res = await post('/v1/jobs', [await uniqueImage('polled.png')]);
    expect(res.status).toBe(202);
    const [job] = res.body.jobs as JobRef[];
    const view = await until('the job completes', 60_000, async () => {
      const body = (await (await fetch(`${BASE_URL}${job?.statusUrl}`)).json()) as JobView;
      return body.status === 'completed' ? body : undefined;
    });
    expect(view.predictions?.length).toBeGreaterThan(0);
  });

  it('answers a long-poll when the job completes', async () => {
    const res = await post('/v1/jobs', [await uniqueImage('long-poll.png')]);
    const [job] = res.body.jobs as JobRef[];
    const started = Date.now();
    const { status, view } = await getJob(job?.id ?? '', '?waitMs=25000');
    expect(status).toBe(200);
    expect(view.status).toBe('completed');
    expect(Date.now() - started).toBeLessThan(25_000);
  });

  it('answers 202 to a synchronous predict whose timeout runs out; nobody waits, so it expires', async () => {
    const res = await post('/v1/predict?timeoutMs=1', [await uniqueImage('timeout.png')]);
    expect(res.status).toBe(202);
    // Its deadline passed before a worker took it: skipped, not classified (see Errors).
    expect(await untilFinished(res.body.id as string)).toMatchObject({
      status: 'failed',
      error: EXPIRED_REASON,
    });
  });

  it('completes and stores each of 300 jobs once, while a worker container is killed midway', async () => {
    const before = await storedResults([]);
    const parts = await Promise.all(
      Array.from({ length: 300 }, (_, i) => uniqueImage(`bulk-${i}.png`)),
    );
    const workers = await serviceIds('worker');
    expect(workers).toHaveLength(WORKERS);
    victim = workers[0] as string;
    for (let i = 0; i < parts.length; i += 15) {
      const res = await post('/v1/jobs', parts.slice(i, i + 15));
      expect(res.status).toBe(202);
      bulkIds.push(...(res.body.jobs as JobRef[]).map((j) => j.id));
      // Midway, while the workers hold jobs in hand.
      if (i === 150) await docker('kill', victim);
    }
    expect(new Set(bulkIds).size).toBe(300);
    const views = await mapLimit(bulkIds, 24, (id) => untilFinished(id, 240_000));
    expect(views.filter((v) => v.status !== 'completed')).toEqual([]);
    const after = await storedResults(bulkIds);
    expect(after.found).toBe(300);
    expect(after.total - before.total).toBe(300);
  }, 420_000);

  it('brings a crashed worker container back by its restart policy', async () => {
    // Docker Engine 20.10 counts `docker kill` as a deliberate stop, after which no restart
    // policy applies: the container killed above is down until the next `up` starts it.
    await compose('up', '-d', '--scale', `worker=${WORKERS}`);
    const [back] = await inspect([victim]);
    expect(back?.State.Running).toBe(true);
    // A crash (SIGKILL from outside, as the kernel's OOM killer sends) is what the policy is for.
    const [crashing] = await inspect([(await serviceIds('worker'))[1] as string]);
    process.kill(crashing?.State.Pid ?? 0, 'SIGKILL');
    const restarted = await until('the crashed worker restarts', 60_000, async () => {
      const [c] = await inspect([crashing?.Id ?? '']);
      return c?.State.Running && c.RestartCount > (crashing?.RestartCount ?? 0) ? c : undefined;
    });
    expect(restarted.State.Pid).not.toBe(crashing?.State.Pid);
    await until('three healthy workers', 150_000, async () => {
      const states = await inspect(await serviceIds('worker'));
      return states.length === WORKERS && states.every((c) => c.State.Health?.Status === 'healthy')
        ? true
        : undefined;
    });
  }, 240_000);

  it('starts an API while MongoDB is down: it says what it waits for, then starts', async () => {
    await compose('stop', 'mongo');
    const [api] = await serviceIds('api');
    const since = Math.floor(Date.now() / 1000) - 1;
    await docker('restart', '--time', '10', api as string);
    const logs = async () => {
      const out = await run(DOCKER, ['logs', '--since', String(since), api as string]);
      return `${out.stdout}${out.stderr}`;
    };
    const waiting = await until('the API logs that it waits for MongoDB', 60_000, async () => {
      const text = await logs();
      return text.includes('waiting for MongoDB') ? text : undefined;
    });
    const lines = waiting.split('\n').filter(Boolean);
    // Structured lines only: no stack trace, no uncaught error, no credentials.
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg?.startsWith('waiting for'));
    expect(line).toMatchObject({ dependency: 'MongoDB', target: 'mongodb://mongo:27017/imagerec' });
    expect(waiting).not.toContain(
      readFileSync(ENV_FILE, 'utf8').match(/^MONGO_PASSWORD=(.*)$/m)?.[1],
    );
    await compose('start', 'mongo');
    await until('the API is healthy again', 120_000, async () => {
      const [c] = await inspect([api as string]);
      return c?.State.Health?.Status === 'healthy' ? true : undefined;
    });
    expect(await logs()).toContain('MongoDB is reachable');
  }, 240_000);

  it('keeps the results across down and up (named volumes)', async () => {
    await compose('down');
    expect(await projectContainers()).toEqual([]);
    // The data volumes stay (with the monitoring profile's, created but unused here).
    expect(await projectVolumes()).toEqual(
      expect.arrayContaining([`${PROJECT}_redis-data`, `${PROJECT}_mongo-data`]),
    );
    await up();
    const { status, view } = await getJob(bulkIds[0] as string);
    expect(status).toBe(200);
    expect(view.status).toBe('completed');
    expect((await storedResults(bulkIds)).found).toBe(300);
  }, 300_000);

  it('deletes them with down -v', async () => {
    await compose('down', '-v');
    expect(await projectVolumes()).toEqual([]);
    await up();
    expect((await getJob(bulkIds[0] as string)).status).toBe(404);
    expect(await storedResults(bulkIds)).toEqual({ found: 0, total: 0 });
  }, 300_000);
});
