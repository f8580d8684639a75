// Prints the report of one `pnpm bench` run from the JSON it wrote, with the targets of issue 9,
// and keeps a copy in bench/results/bench.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const read = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'));
const engine = read('engine.json');
const main = read('default.json');
const batch1 = read('batch1.json');
const round = (x, digits = 1) => Number(x.toFixed(digits));
const yes = (ok) => (ok ? 'met' : 'NOT met');

// Engine: each precision's best images/s over batch sizes and thread counts.
console.log(
  `\nengine (${engine.cpu}, ${engine.cores} cores, onnxruntime ${engine.onnxruntime}, load average ${engine.loadAverage}): best images/s`,
);
console.log('| precision | images/s | at batch | intra-op threads | CPU ms/image |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [precision, b] of Object.entries(engine.best)) {
  console.log(
    `| ${precision} | ${b.imagesPerSecond} | ${b.batch} | ${b.threads} | ${b.cpuMsPerImage} |`,
  );
}

console.log(
  `\nsync POST /v1/predict through nginx, unique photos; ${main.apis} API process(es), ` +
    `${main.workers} worker(s) x ${main.intraOpThreads} intra-op thread(s), MAX_BATCH ${main.maxBatch}`,
);
console.log('| clients | images/s | p50 / p99 ms | p99 / p50 | mean batch | not 200 |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
const row = (label, r) =>
  console.log(
    `| ${label} | ${r.imagesPerSecond} | ${r.p50Ms} / ${r.p99Ms} | ${round(r.p99Ms / r.p50Ms, 2)} | ${r.meanBatch} | ${r.accepted202 + r.otherStatus + r.errors} |`,
  );
for (const r of main.sync) row(r.connections, r);
const b1 = batch1.sync[0];
row(`${b1.connections}, MAX_BATCH=1`, b1);
console.log(
  `\nbulk flow (POST /v1/jobs x16, long-polls): ${main.bulk.ok} images, ${main.bulk.imagesPerSecond} images/s, mean batch ${main.bulk.meanBatch}`,
);

const at = (n) => main.sync.find((r) => r.connections === n);
const one = at(1);
console.log(
  `\nat 1 client, means: ${one.meanLatencyMs} ms a request = ${one.meanQueuedMs} from acceptance to the batch's start ` +
    `(preprocessing, enqueue, pick-up) + ${one.meanInferenceMs} inference (batch ${one.meanBatch}) + ` +
    `${round(one.meanLatencyMs - one.meanToInferredMs, 1)} to store, complete and answer, and to receive the upload`,
);
const s32 = at(32);
const kinds = Object.keys(s32.cpuMsPerImage);
console.log('\nCPU ms per image, each kind of process (all its processes together)');
console.log(`| run | ${kinds.join(' | ')} |`);
console.log(`| --- | ${kinds.map(() => '---:').join(' | ')} |`);
for (const r of main.sync)
  console.log(`| sync ${r.connections} | ${kinds.map((k) => r.cpuMsPerImage[k]).join(' | ')} |`);
console.log(`| bulk | ${kinds.map((k) => main.bulk.cpuMsPerImage[k] ?? '-').join(' | ')} |`);

// The model's own CPU per image at the precision, threads and batch size the stack ran.
const nearest = engine.rows
  .filter((r) => r.precision === main.precision && r.threads === main.intraOpThreads)
  .sort((a, b) => Math.abs(a.batch - s32.meanBatch) - Math.abs(b.batch - s32.meanBatch))[0];
const modelCpu = nearest.cpuMsPerImage;
const outside =
  Object.entries(s32.cpuMsPerImage)
    .filter(([k]) => k !== 'load generator')
    .reduce((sum, [, ms]) => sum + ms, 0) - modelCpu;
console.log(
  `\nat 32 clients: CPU per image outside the model's run ${round(outside, 2)} ms ` +
    `(every process but the load generator, less the engine's ${round(modelCpu, 2)} ms at batch ${nearest.batch}, ${main.precision}, ${main.intraOpThreads} threads)`,
);

const peak = main.peakRssMb;
const peakOf = (prefix) =>
  Math.max(
    ...Object.entries(peak)
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => v),
  );
console.log(
  `peak resident memory, MB: ${Object.entries(peak)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);

const best =
  engine.best.int8?.imagesPerSecond ??
  Math.max(...Object.values(engine.best).map((b) => b.imagesPerSecond));
const targets = [
  [`sync at 32 clients >= 120 images/s (${s32.imagesPerSecond})`, s32.imagesPerSecond >= 120],
  [
    `p99 <= 2.5 x p50 at 32 clients (${round(s32.p99Ms / s32.p50Ms, 2)})`,
    s32.p99Ms <= 2.5 * s32.p50Ms,
  ],
  [`p50 at 1 client <= 15 ms (${at(1).p50Ms})`, at(1).p50Ms <= 15],
  [
    `64 clients: every answer 200 (${at(64).ok} of ${at(64).requests}), p99 <= 3 x p50 (${round(at(64).p99Ms / at(64).p50Ms, 2)})`,
    at(64).ok === at(64).requests && at(64).p99Ms <= 3 * at(64).p50Ms,
  ],
  [`CPU per image outside the model <= 10 ms (${round(outside, 2)})`, outside <= 10],
  [
    `bulk >= 0.4 x the engine's best (${main.bulk.imagesPerSecond} / ${best} = ${round(main.bulk.imagesPerSecond / best, 2)})`,
    main.bulk.imagesPerSecond >= 0.4 * best,
  ],
  [
    `dynamic batching >= 1.5 x MAX_BATCH=1 at 32 clients (${round(s32.imagesPerSecond / b1.imagesPerSecond, 2)})`,
    s32.imagesPerSecond >= 1.5 * b1.imagesPerSecond,
  ],
  [
    `peak resident memory: worker <= 300 MB (${peakOf('worker')}), API <= 150 MB (${peakOf('api')})`,
    peakOf('worker') <= 300 && peakOf('api') <= 150,
  ],
];
console.log('\ntargets');
for (const [what, ok] of targets) console.log(`- ${yes(ok)}: ${what}`);

const results = join(new URL('./results/', import.meta.url).pathname);
mkdirSync(results, { recursive: true });
writeFileSync(
  join(results, 'bench.json'),
  `${JSON.stringify({ engine, stack: main, batch1, outsideModelCpuMs: round(outside, 2) }, null, 2)}\n`,
);
console.log(`\nwritten to ${join(results, 'bench.json')}`);
