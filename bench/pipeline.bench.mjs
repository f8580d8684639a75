// End-to-end throughput and latency of the running stack (scripts/up), through its HTTP API.
// Every upload gets random trailing bytes, so the result cache never answers it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name, fallback) => process.env[name] ?? fallback;
const BASE = env('BENCH_URL', 'http://127.0.0.1:8080').replace(/\/$/, '');
const IMAGES = env('BENCH_IMAGES', new URL('../../shared/images/', import.meta.url).pathname);
const BULK_JOBS = Number(env('BENCH_BULK_JOBS', 256));
const SYNC_REQUESTS = Number(env('BENCH_SYNC_REQUESTS', 96));
const SYNC_CLIENTS = Number(env('BENCH_SYNC_CLIENTS', 8));
const RUN_DIR = env('RUN_DIR', new URL('../var/stack/', import.meta.url).pathname);

const sources = readdirSync(IMAGES)
  .filter((f) => /\.(png|jpe?g|bmp)$/i.test(f))
  .map((f) => ({ name: f, bytes: readFileSync(join(IMAGES, f)) }));
const upload = (i) => {
  const src = sources[i % sources.length];
  return { name: `bench-${i}-${src.name}`, bytes: Buffer.concat([src.bytes, randomBytes(16)]) };
};
const form = (files) => {
  const fd = new FormData();
  for (const f of files) fd.append('image', new Blob([f.bytes]), f.name);
  return fd;
};
const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const round = (x) => Math.round(x * 10) / 10;

async function untilDone(id) {
  for (;;) {
    const view = await (await fetch(`${BASE}/v1/jobs/${id}?waitMs=30000`)).json();
    if (view.status === 'completed') return view;
    if (view.status === 'failed') throw new Error(`job ${id} failed: ${view.error}`);
  }
}

async function bulk() {
  const started = performance.now();
  const ids = [];
  const chunks = [];
  for (let i = 0; i < BULK_JOBS; i += 16) {
    chunks.push(Array.from({ length: Math.min(16, BULK_JOBS - i) }, (_, j) => upload(i + j)));
  }
  await Promise.all(
    chunks.map(async (files) => {
      const res = await fetch(`${BASE}/v1/jobs`, { method: 'POST', body: form(files) });
      if (res.status !== 202) throw new Error(`POST /v1/jobs: ${res.status} ${await res.text()}`);
      ids.push(...(await res.json()).jobs.map((j) => j.id));
    }),
  );
  const views = await Promise.all(ids.map(untilDone));
  const seconds = (performance.now() - started) / 1000;
  const batches = views.map((v) => v.timings.batchSize);
  return {
    jobs: views.length,
    seconds: round(seconds),
    imagesPerSecond: round(views.length / seconds),
    meanBatchSize: round(batches.reduce((a, b) => a + b, 0) / batches.length),
    maxBatchSize: Math.max(...batches),
  };
}

async function sync() {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  const client = async () => {
    while (next < SYNC_REQUESTS) {
      const i = next++;
      const t = performance.now();
      const res = await fetch(`${BASE}/v1/predict`, {
        method: 'POST',
        body: form([upload(10_000 + i)]),
      });
      const body = await res.json();
      if (res.status !== 200)
        throw new Error(`POST /v1/predict: ${res.status} ${JSON.stringify(body)}`);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: SYNC_CLIENTS }, client));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    clients: SYNC_CLIENTS,
    imagesPerSecond: round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    p99Ms: round(percentile(latencies, 99)),
  };
}

/** The stack's processes, from their pid files (local stack only): name -> pid. */
function stackProcesses() {
  try {
    const dir = join(RUN_DIR, 'pids');
    return Object.fromEntries(
      readdirSync(dir).map((f) => [
        f.replace(/\.pid$/, ''),
        readFileSync(join(dir, f), 'utf8').trim(),
      ]),
    );
  } catch {
    return {};
  }
}

/** Resident memory (MB) and CPU time used so far (s) of a process, all its threads included. */
function usage(pid) {
  try {
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime, in clock ticks (100 a second on Linux).
    return {
      rssMb: round(Number(rss?.[1] ?? 0) / 1024),
      cpuS: (Number(stat[11]) + Number(stat[12])) / 100,
    };
  } catch {
    return undefined;
  }
}

const health = await fetch(`${BASE}/health`).catch(() => null);
if (!health?.ok) {
  console.error(
    `No healthy stack at ${BASE}: start it with scripts/up (WORKERS=n to choose workers).`,
  );
  process.exit(1);
}
await Promise.all(
  Array.from({ length: 4 }, (_, i) =>
    fetch(`${BASE}/v1/predict`, { method: 'POST', body: form([upload(90_000 + i)]) }),
  ),
);

const processes = stackProcesses();
const before = Object.fromEntries(
  Object.entries(processes).map(([name, pid]) => [name, usage(pid)]),
);
const results = {
  url: BASE,
  date: new Date().toISOString(),
  bulk: await bulk(),
  sync: await sync(),
};
results.processes = {};
for (const [name, pid] of Object.entries(processes)) {
  const after = usage(pid);
  if (after && before[name]) {
    results.processes[name] = { rssMb: after.rssMb, cpuS: round(after.cpuS - before[name].cpuS) };
  }
}
console.log(`pipeline benchmark against ${BASE}`);
console.log('| flow | images | images/s | latency p50 / p95 / p99 ms | mean batch |');
console.log('| --- | --- | --- | --- | --- |');
console.log(
  `| bulk: POST /v1/jobs x16, long-poll | ${results.bulk.jobs} | ${results.bulk.imagesPerSecond} | - | ${results.bulk.meanBatchSize} (max ${results.bulk.maxBatchSize}) |`,
);
console.log(
  `| sync: POST /v1/predict, ${results.sync.clients} clients | ${results.sync.requests} | ${results.sync.imagesPerSecond} | ${results.sync.p50Ms} / ${results.sync.p95Ms} / ${results.sync.p99Ms} | - |`,
);
if (Object.keys(results.processes).length > 0) {
  console.log('| process | CPU s during the run | resident MB at the end |');
  console.log('| --- | --- | --- |');
  for (const [name, p] of Object.entries(results.processes))
    console.log(`| ${name} | ${p.cpuS} | ${p.rssMb} |`);
}
const dir = new URL('./results/', import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'pipeline.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`written to ${join(dir, 'pipeline.json')}`);
