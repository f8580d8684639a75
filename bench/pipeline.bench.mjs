// End-to-end throughput and latency of a running local stack, through nginx: synchronous predicts
// from 1 to 64 clients and the bulk flow, with each process's CPU per image and peak memory.
// Every upload has unique bytes, so the result cache never answers. Writes JSON to --out.
// --callback-port P: every upload carries callbackUrl=http://127.0.0.1:P/hook, a receiver here
// answering in --callback-delay-ms (50); the stack needs WEBHOOK_SECRET and
// OUTBOUND_ALLOWED_HOSTS=127.0.0.1:P. Compare with a run without it.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../packages/shared/dist/index.js';
import { syncLoad } from './lib/load.mjs';
import { loadPhotos, MULTIPART_TYPE, multipart } from './lib/photos.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { cpuPerImage, cpuSnapshot, peaks, resetPeaks, stackProcesses } from './lib/stack.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    'run-dir': { type: 'string' },
    clients: { type: 'string', default: '1,8,32,64' },
    seconds: { type: 'string', default: '15' },
    bulk: { type: 'string', default: '512' },
    images: { type: 'string', default: new URL('../../shared/images/', import.meta.url).pathname },
    out: { type: 'string' },
    'callback-port': { type: 'string' },
    'callback-delay-ms': { type: 'string', default: '50' },
  },
});
const BASE = values.url.replace(/\/$/, '');
const SECONDS = Number(values.seconds);
const BULK = Number(values.bulk);
const round = (x, digits = 1) => Number(x.toFixed(digits));

const photos = await loadPhotos(values.images);
const receiver = values['callback-port']
  ? await startReceiver({
      port: Number(values['callback-port']),
      delayMs: Number(values['callback-delay-ms']),
    })
  : undefined;
/** The query every upload carries: its callback URL when the run has a receiver. */
const QUERY = receiver ? `?callbackUrl=${encodeURIComponent(receiver.url)}` : '';
const processes = values['run-dir'] ? stackProcesses(values['run-dir']) : {};

async function measured(run) {
  const before = cpuSnapshot(processes);
  const result = await run();
  const after = cpuSnapshot(processes);
  return { ...result, cpuMsPerImage: cpuPerImage(before, after, Math.max(1, result.ok)) };
}

/** POST /v1/jobs with 16 files a request, then long-polls every job until it is finished. */
async function bulk(count) {
  const started = performance.now();
  const chunks = [];
  for (let i = 0; i < count; i += 16) {
    chunks.push(
      Array.from({ length: Math.min(16, count - i) }, (_, j) => photos[(i + j) % photos.length]),
    );
  }
  const ids = (
    await Promise.all(
      chunks.map(async (files) => {
        const res = await fetch(`${BASE}/v1/jobs${QUERY}`, {
          method: 'POST',
          headers: { 'content-type': MULTIPART_TYPE, 'x-request-id': randomUUID() },
          body: multipart(files),
        });
        if (res.status !== 202) throw new Error(`POST /v1/jobs: ${res.status} ${await res.text()}`);
        return (await res.json()).jobs.map((j) => j.id);
      }),
    )
  ).flat();
  const views = await Promise.all(
    ids.map(async (id) => {
      for (;;) {
        const view = await (await fetch(`${BASE}/v1/jobs/${id}?waitMs=30000`)).json();
        if (view.status === 'completed') return view;
        if (view.status === 'failed') throw new Error(`job ${id} failed: ${view.error}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const batches = views.map((v) => v.timings.batchSize);
  return {
    ok: views.length,
    seconds: round(seconds),
    imagesPerSecond: round(views.length / seconds),
    meanBatch: round(batches.reduce((a, b) => a + b, 0) / batches.length),
  };
}

const health = await fetch(`${BASE}/health`).catch(() => null);
if (!health?.ok) {
  console.error(`No healthy stack at ${BASE}: run the benchmark through scripts/bench.`);
  process.exit(1);
}
// Warm-up: connections, the model's first runs, JIT.
await syncLoad({ url: BASE, photos, connections: 4, amount: 40, path: `/v1/predict${QUERY}` });

const sync = [];
for (const clients of values.clients.split(',').map(Number)) {
  sync.push(
    await measured(() =>
      syncLoad({
        url: BASE,
        photos,
        connections: clients,
        seconds: SECONDS,
        path: `/v1/predict${QUERY}`,
      }),
    ),
  );
}
// The bulk run's own peaks (issue 16's memory target is for it), apart from the whole run's.
const syncPeaks = peaks(processes);
resetPeaks(processes);
const bulkRow = BULK > 0 ? await measured(() => bulk(BULK)) : undefined;
const bulkPeaks = peaks(processes);
// Every completed upload owes one webhook: wait for the stragglers, then count.
const answered = 40 + sync.reduce((n, r) => n + r.ok + r.accepted202, 0) + (bulkRow?.ok ?? 0);
await receiver?.settle(answered, 60_000);
const callbacks = receiver && {
  delayMs: Number(values['callback-delay-ms']),
  expectedAtLeast: answered,
  ...receiver.counts(),
};
await receiver?.close();
const memory = Object.fromEntries(
  Object.entries(processes).map(([name]) => [
    name,
    Math.max(syncPeaks[name] ?? 0, bulkPeaks[name] ?? 0),
  ]),
);
// The stack's processes read the same environment.
const { model, worker } = loadConfig();
const results = {
  url: BASE,
  date: new Date().toISOString(),
  precision: model.precision,
  intraOpThreads: worker.intraOpThreads,
  maxBatch: worker.maxBatch,
  apis: Object.keys(processes).filter((name) => name.startsWith('api-')).length,
  workers: Object.keys(processes).filter((name) => name.startsWith('worker-')).length,
  seconds: SECONDS,
  sync,
  bulk: bulkRow,
  ...(callbacks && { callbacks }),
  peakRssMb: memory,
  ...(bulkRow && { bulkPeakRssMb: bulkPeaks }),
};
if (values.out) {
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(results, null, 2)}\n`);
}
for (const r of sync) {
  console.log(
    `sync ${r.connections} clients: ${r.imagesPerSecond} images/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
      `mean batch ${r.meanBatch}, not 200: ${r.accepted202 + r.otherStatus + r.errors}`,
  );
}
if (bulkRow)
  console.log(`bulk: ${bulkRow.imagesPerSecond} images/s, mean batch ${bulkRow.meanBatch}`);
if (callbacks) {
  console.log(
    `callbacks (receiver answering in ${callbacks.delayMs} ms): ${callbacks.deliveries} deliveries, ` +
      `${callbacks.distinctIds} distinct ids, at least ${callbacks.expectedAtLeast} owed`,
  );
}
