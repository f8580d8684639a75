import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectDemoCalls } from '../support/demo-calls.js';
import { type UploadAnswer, uploadFresh } from '../support/fresh-upload.js';
import { until } from '../support/poll.js';

// Set by scripts/test-k8s, which runs these inside the cluster's network namespace once the
// chart is installed; without them there is nothing to test.
const EDGE = process.env.K8S_EDGE_URL ?? '';
const NS = process.env.K8S_NAMESPACE ?? '';
const RELEASE = process.env.K8S_RELEASE ?? '';
const CHART = process.env.K8S_CHART ?? '';
const VALUES = process.env.K8S_VALUES ?? '';
const BULK_JOBS = 600;
const FILES_PER_REQUEST = 16;

const run = promisify(execFile);
const sh = async (file: string, ...args: string[]) =>
  (await run(file, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
const kubectl = (...args: string[]) => sh('kubectl', '-n', NS, ...args);
const helm = (...args: string[]) => sh('helm', '-n', NS, ...args);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stdout.write(`[k8s] ${msg}\n`);
const seconds = (from: number, to = Date.now()) => ((to - from) / 1000).toFixed(1);

interface JobView {
  status: string;
  predictions?: { index: number; label: string }[];
}
interface Pod {
  metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string };
  status: { phase: string; podIP?: string };
}
const pods = async (component?: string) => {
  const selector = `app.kubernetes.io/instance=${RELEASE}${component ? `,app.kubernetes.io/component=${component}` : ''}`;
  return (
    JSON.parse(await kubectl('get', 'pods', '-l', selector, '-o', 'json')) as { items: Pod[] }
  ).items;
};
/** The workers' Deployment as KEDA's HPA sets it: wanted and ready replicas. */
const workers = async () => {
  const d = JSON.parse(await kubectl('get', 'deploy', `${RELEASE}-worker`, '-o', 'json')) as {
    spec: { replicas: number };
    status: { readyReplicas?: number };
  };
  return { wanted: d.spec.replicas, ready: d.status.readyReplicas ?? 0 };
};

const upload = (path: string, files: number) => uploadFresh(EDGE, path, files);

describe.skipIf(!EDGE)('the Helm chart on a real cluster, through the edge Service', () => {
  let mongo: Connection;
  let apiUrl: string;

  /** The stored documents of these jobs: one per job, or the test fails. */
  async function stored(ids: string[]) {
    const docs = await mongo
      .collection<{ _id: string; status: string }>('predictions')
      .find({ _id: { $in: ids } }, { projection: { _id: 1, status: 1 } })
      .toArray();
    return docs;
  }
  async function allCompleted(ids: string[], timeoutMs: number) {
    await until(`${ids.length} jobs completed`, timeoutMs, async () => {
      const docs = await stored(ids);
      const failed = docs.filter((d) => d.status !== 'completed');
      if (failed.length > 0) throw new Error(`failed jobs: ${JSON.stringify(failed.slice(0, 3))}`);
      return docs.length === ids.length ? true : undefined;
    });
  }
  /** The API's own count of jobs waiting and running (not served by the edge). */
  const depth = async () =>
    (await (await fetch(`${apiUrl}/queue-depth`)).json()) as { backlog: number; active: number };

  beforeAll(async () => {
    const [store] = await pods('mongo');
    const secret = JSON.parse(
      await kubectl('get', 'secret', `${RELEASE}-stores`, '-o', 'json'),
    ) as { data: Record<string, string> };
    const url = new URL(Buffer.from(secret.data.MONGODB_URL ?? '', 'base64').toString());
    // Its Service's name resolves inside the cluster only: the pod's own address from here.
    url.hostname = store?.status.podIP ?? '';
    mongo = await mongoose.createConnection(url.toString()).asPromise();
    const api = JSON.parse(await kubectl('get', 'svc', `${RELEASE}-api`, '-o', 'json')) as {
      spec: { clusterIP: string; ports: { port: number }[] };
    };
    apiUrl = `http://${api.spec.clusterIP}:${api.spec.ports[0]?.port}`;
  });

  afterAll(async () => {
    await mongo?.close();
  });

  it('answers the demo calls (POST /predict with `image`, GET /), sync predict, polling, a long-poll', async () => {
    expect((await fetch(`${EDGE}/health`)).status).toBe(200);
    await expectDemoCalls(EDGE);

    const sync = await upload('/v1/predict', 1);
    expect(sync.status).toBe(200);
    const [polledId] = (await upload('/v1/jobs', 1)).ids;
    const polled = await until('the job polled to completion', 60_000, async () => {
      const view = (await (await fetch(`${EDGE}/v1/jobs/${polledId}`)).json()) as JobView;
      return view.status === 'completed' ? view : undefined;
    });
    expect(polled.predictions?.length).toBeGreaterThan(0);

    const [longId] = (await upload('/v1/jobs', 1)).ids;
    const long = await fetch(`${EDGE}/v1/jobs/${longId}?waitMs=25000`);
    expect(long.status).toBe(200);
    expect(((await long.json()) as JobView).status).toBe('completed');
    // The autoscaler's endpoint is for the cluster's inside only.
    expect((await fetch(`${EDGE}/queue-depth`)).status).toBe(404);
  });

  it(`scales the workers 1 -> >=3 on ${BULK_JOBS} bulk jobs and back to 1; a worker pod deleted mid-batch loses nothing`, async () => {
    await until('one ready worker to start from', 240_000, async () => {
      const w = await workers();
      return w.wanted === 1 && w.ready === 1 ? true : undefined;
    });
    const started = Date.now();
    const requests = Array.from({ length: Math.ceil(BULK_JOBS / FILES_PER_REQUEST) }, (_, i) =>
      Math.min(FILES_PER_REQUEST, BULK_JOBS - i * FILES_PER_REQUEST),
    );
    const answers: UploadAnswer[] = [];
    const posting = (async () => {
      for (let i = 0; i < requests.length; i += 4) {
        answers.push(
          ...(await Promise.all(requests.slice(i, i + 4).map((n) => upload('/v1/jobs', n)))),
        );
      }
    })();

    let most = 1;
    let scaledAt: number | undefined;
    const watch = (async () => {
      while (scaledAt === undefined && Date.now() - started < 90_000) {
        const w = await workers();
        most = Math.max(most, w.wanted);
        if (w.wanted >= 3) scaledAt = Date.now();
        else await sleep(1000);
      }
    })();
    await posting;
    const ids = answers.flatMap((a) => a.ids);
    expect(answers.map((a) => a.status).filter((s) => s !== 202)).toEqual([]);
    expect(ids).toHaveLength(BULK_JOBS);
    log(`${BULK_JOBS} jobs accepted in ${seconds(started)} s`);

    // A worker with jobs in its hands, deleted without a grace period (as a node loss would).
    const busy = await until('jobs running on the workers', 60_000, async () => {
      const d = await depth();
      return d.active > 0 ? d : undefined;
    });
    const [victim] = (await pods('worker'))
      .filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp)
      .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));
    expect(victim).toBeDefined();
    const deleted = victim?.metadata.name ?? '';
    await kubectl('delete', 'pod', deleted, '--grace-period=0', '--force', '--wait=false');
    log(`deleted worker pod ${deleted} with ${busy.active} jobs running, ${busy.backlog} waiting`);

    await watch;
    const scaleSeconds = scaledAt === undefined ? undefined : (scaledAt - started) / 1000;
    log(
      scaleSeconds === undefined
        ? `workers did not reach 3 within 90 s (most: ${most})`
        : `workers 1 -> ${(await workers()).wanted} in ${scaleSeconds.toFixed(1)} s after the first jobs arrived`,
    );
    expect(scaleSeconds).toBeDefined();
    expect(scaleSeconds).toBeLessThanOrEqual(60);

    await allCompleted(ids, 300_000);
    const drained = Date.now();
    const docs = await stored(ids);
    expect(docs).toHaveLength(BULK_JOBS);
    expect(new Set(docs.map((d) => d._id)).size).toBe(BULK_JOBS);
    log(
      `all ${BULK_JOBS} jobs completed, one document each, ${seconds(started)} s after the first`,
    );

    const peak = (await workers()).wanted;
    await until('the workers back to 1', 240_000, async () =>
      (await workers()).wanted === 1 ? true : undefined,
    );
    const downSeconds = (Date.now() - drained) / 1000;
    log(`workers ${peak} -> 1 in ${downSeconds.toFixed(1)} s after the queue emptied`);
    expect(downSeconds).toBeLessThanOrEqual(180);
  });

  it('helm upgrade with a changed value under sync load: every answer 200, or 503 with Retry-After', async () => {
    const before = (await pods('api')).map((p) => p.metadata.name);
    const answers: UploadAnswer[] = [];
    let running = true;
    const clients = Array.from({ length: 4 }, async () => {
      // A client that waits as long as the API allows: an answer in time is a 200, never a 202.
      while (running) answers.push(await upload('/v1/predict?timeoutMs=60000', 1));
    });
    const started = Date.now();
    try {
      await sleep(2000);
      await helm(
        'upgrade',
        RELEASE,
        CHART,
        '-f',
        VALUES,
        '--set',
        'config.MAX_BATCH=4',
        '--wait',
        '--timeout',
        '5m',
      );
      log(`helm upgrade (MAX_BATCH 8 -> 4) rolled out in ${seconds(started)} s`);
      await sleep(3000);
    } finally {
      running = false;
      await Promise.all(clients);
    }
    const after = (await pods('api'))
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => p.metadata.name);
    expect(after.filter((name) => before.includes(name))).toEqual([]);
    const refused = answers.filter((a) => a.status === 503);
    const ok = answers.filter((a) => a.status === 200);
    log(
      `${answers.length} sync predicts during the upgrade: ${ok.length} answered 200, ${refused.length} 503`,
    );
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    for (const a of refused) expect(a.retryAfter).toMatch(/^\d+$/);
    expect(ok.length).toBeGreaterThan(0);
    const ids = ok.flatMap((a) => a.ids);
    const docs = await stored(ids);
    expect(docs).toHaveLength(ids.length);
    expect(docs.every((d) => d.status === 'completed')).toBe(true);
  });

  it('helm uninstall leaves no pods; the stores keep their volumes (bundled.volumesOnUninstall: Retain)', async () => {
    await mongo.close();
    await helm('uninstall', RELEASE, '--wait', '--timeout', '3m');
    await until('no pods left', 120_000, async () =>
      (await pods()).length === 0 ? true : undefined,
    );
    const claims = (await kubectl('get', 'pvc', '-o', 'name')).split('\n').filter(Boolean).sort();
    expect(claims).toEqual([
      `persistentvolumeclaim/data-${RELEASE}-mongo-0`,
      `persistentvolumeclaim/data-${RELEASE}-redis-0`,
    ]);
    log(`uninstalled: no pods; volumes kept: ${claims.join(', ')}`);
  });
});
