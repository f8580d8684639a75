// Storage benchmark: the same measurements on a database that is new, then after
// `pnpm db:seed --count SEED_COUNT`, in one run against the stack that scripts/bench-storage starts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getP50, syncLoad } from './lib/load.mjs';
import { loadPhotos } from './lib/photos.mjs';

const env = (name, fallback) => process.env[name] ?? fallback;
const BASE = env('BENCH_URL', 'http://127.0.0.1:8096').replace(/\/$/, '');
const IMAGES = env('BENCH_IMAGES', new URL('../../shared/images/', import.meta.url).pathname);
const SEED_COUNT = Number(env('SEED_COUNT', 100_000));
const ROOT = new URL('../', import.meta.url).pathname;

const photos = await loadPhotos(IMAGES);

const seed = (count) => {
  const out = execFileSync(
    'node',
    [join(ROOT, 'services/worker/dist/cli/seed-predictions.js'), '--count', String(count)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1));
};

const json = async (path) => {
  const res = await fetch(`${BASE}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return res.json();
};

/** The `before` that opens page `n` (1-based) of 20, by following `next` from page 1. */
async function cursorOfPage(n) {
  let before;
  for (let page = 1; page < n; page++) {
    const body = await json(
      `/v1/predictions?limit=20${before ? `&before=${encodeURIComponent(before)}` : ''}`,
    );
    if (!body.next) throw new Error(`the history has fewer than ${n} pages`);
    before = body.next;
  }
  return before;
}

async function measure(label, storedJobId) {
  const sync1 = await syncLoad({ url: BASE, photos, connections: 1, amount: 60 });
  const sync8 = await syncLoad({ url: BASE, photos, connections: 8, amount: 240 });
  const page10 = encodeURIComponent(await cursorOfPage(10));
  return {
    label,
    sync1P50Ms: sync1.p50Ms,
    sync8ImagesPerSecond: sync8.imagesPerSecond,
    syncFailures: sync1.otherStatus + sync1.errors + sync8.otherStatus + sync8.errors,
    historyPage1Ms: await getP50(BASE, '/?limit=20'),
    historyPage10Ms: await getP50(BASE, `/?limit=20&before=${page10}`),
    jsonPage1Ms: await getP50(BASE, '/v1/predictions?limit=20'),
    jsonPage10Ms: await getP50(BASE, `/v1/predictions?limit=20&before=${page10}`),
    jobFromMongoMs: await getP50(BASE, `/v1/jobs/${storedJobId}`),
  };
}

const health = await fetch(`${BASE}/health`).catch(() => null);
if (!health?.ok) {
  console.error(`No healthy stack at ${BASE}: run this through scripts/bench-storage.`);
  process.exit(1);
}
// One finished job that only MongoDB knows, so the lookup below has one in both states.
const one = seed(1);
await syncLoad({ url: BASE, photos, connections: 2, amount: 8 });
const empty = await measure('new database', one.sampleJobId);
const seeded = seed(SEED_COUNT);
const full = await measure(`after db:seed --count ${SEED_COUNT}`, seeded.sampleJobId);

const rows = [
  ['sync POST /v1/predict, 1 client: p50 ms', 'sync1P50Ms', 'within 10%'],
  ['sync POST /v1/predict, 8 clients: images/s', 'sync8ImagesPerSecond', 'within 10%'],
  ['GET / page 1: p50 ms', 'historyPage1Ms', '<= 50'],
  ['GET / page 10: p50 ms', 'historyPage10Ms', '<= 100'],
  ['GET /v1/predictions page 1: p50 ms', 'jsonPage1Ms', '<= 50'],
  ['GET /v1/predictions page 10: p50 ms', 'jsonPage10Ms', '<= 100'],
  ['GET /v1/jobs/:id from MongoDB: p50 ms', 'jobFromMongoMs', '<= 10'],
];
console.log(
  `storage benchmark against ${BASE} (seeded ${seeded.seeded} in ${seeded.seconds} s, ${seeded.perSecond}/s)`,
);
console.log(`| measure | ${empty.label} | ${full.label} | after / before | target |`);
console.log('| --- | ---: | ---: | ---: | --- |');
for (const [name, key, target] of rows) {
  console.log(
    `| ${name} | ${empty[key]} | ${full[key]} | ${(full[key] / empty[key]).toFixed(2)} | ${target} |`,
  );
}
if (empty.syncFailures + full.syncFailures > 0) {
  console.log(`requests not answered 200: ${empty.syncFailures} + ${full.syncFailures}`);
}
const results = { url: BASE, date: new Date().toISOString(), seeded, empty, full };
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'storage.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`written to ${join(dir, 'storage.json')}`);
