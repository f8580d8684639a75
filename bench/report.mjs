// Prints the report of one `pnpm bench` run from the JSON it wrote, with the targets of issue 16,
// and keeps a copy in bench/results/bench.json.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const read = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'));
const engine = read('engine.json');
const main = read('default.json');
const batch1 = read('batch1.json');
const accounting = read('accounting.json');
const queueCost = read('queue-cost.json');
const upLayout = read('up-layout.json');
const peer = existsSync(join(dir, 'peer.json')) ? read('peer.json') : undefined;
const webhookRounds = readdirSync(dir).filter((f) => /^webhooks-on-\d+\.json$/.test(f)).length;
const webhookRuns = (state) =>
  Array.from({ length: webhookRounds }, (_, i) => read(`webhooks-${state}-${i + 1}.json`));
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
for (const r of upLayout.sync) {
  row(
    `${r.connections}, scripts/up's layout (${upLayout.apis} APIs, ${upLayout.workers} workers)`,
    r,
  );
}
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

/** The largest of the peaks of the processes named `prefix`-something. */
const peakOf = (peaks, prefix) =>
  Math.max(
    ...Object.entries(peaks)
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => v),
  );
const listed = (peaks) =>
  Object.entries(peaks)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
console.log(`peak resident memory over the whole run, MB: ${listed(main.peakRssMb)}`);
console.log(
  `peak resident memory under the bulk run (each peak started over before it), MB: ${listed(main.bulkPeakRssMb)}`,
);

const a = accounting;
console.log(
  `\nper image, counted over ${a.images} sync predicts at ${a.clients} clients (${main.apis} API, ${main.workers} worker):`,
);
console.log('| what | per image |');
console.log('| --- | ---: |');
for (const [what, value] of [
  ['Redis commands, those scripts run included', a.commandsPerImage],
  [
    'Redis commands sent by clients (round trips; a pipeline counts each command)',
    a.clientCommandsPerImage,
  ],
  ['Redis commands run inside Lua scripts', a.scriptCommandsPerImage],
  ['Lua script calls (EVALSHA)', a.scriptCallsPerImage],
  ['events published (XADD to the events stream, PUBLISH)', a.eventsPublishedPerImage],
  [
    `events parsed (each of ${main.apis} API process(es) reads every event)`,
    round(a.eventsPublishedPerImage * main.apis, 2),
  ],
  ['bytes into Redis', a.bytesInPerImage],
  ['bytes out of Redis', a.bytesOutPerImage],
  ['MongoDB writes (one insertMany a batch)', a.mongoWritesPerImage],
  ...(a.json
    ? [
        [
          'JSON encodes (JSON.stringify calls in the API and worker processes, threads included)',
          a.json.stringify,
        ],
        ['characters those encodes write', a.json.stringifyChars],
        ['JSON parses (JSON.parse calls, the same processes)', a.json.parse],
        ['characters those parses read', a.json.parseChars],
      ]
    : []),
  [
    "decoding alone, CPU ms (the API's pipeline to the model's pixels: the native JPEG codec)",
    a.decodeCpuMsPerImage,
  ],
]) {
  console.log(`| ${what} | ${value} |`);
}
console.log(`most frequent commands: ${a.top.map(([k, v]) => `${k} ${v}`).join(', ')}`);

const total32 = Object.entries(s32.cpuMsPerImage)
  .filter(([k]) => k !== 'load generator')
  .reduce((sum, [, ms]) => sum + ms, 0);
console.log(
  `\nthe queue alone (BullMQ as the service uses it, a worker that does nothing), ${queueCost.clients} clients, per image:`,
);
console.log(
  "| images a job | join key | priority | Redis commands | Redis CPU ms | its clients' CPU ms (producer, worker, events reader) |",
);
console.log('| ---: | --- | --- | ---: | ---: | ---: |');
const yesNo = (b) => (b ? 'yes' : 'no');
for (const q of queueCost.rows) {
  console.log(
    `| ${q.imagesPerJob} | ${yesNo(q.joinKey)} | ${yesNo(q.priority)} | ${q.commandsPerImage} | ${q.redisCpuMsPerImage} | ${q.clientsCpuMsPerImage} |`,
  );
}
// The service's own job: one image, joined by its content, at interactive priority.
const ownJob = queueCost.rows.find((q) => q.imagesPerJob === 1 && q.joinKey && q.priority);
const leastOne = queueCost.rows.find((q) => q.imagesPerJob === 1 && !q.joinKey && !q.priority);
if (ownJob) {
  const queueMs = ownJob.redisCpuMsPerImage + ownJob.clientsCpuMsPerImage;
  console.log(
    `with the service's one image a job: ${round(queueMs, 2)} CPU ms, ${round((100 * queueMs) / total32, 1)}% of the stack's ${round(total32, 2)} an image at 32 clients`,
  );
}

if (peer) {
  console.log(
    '\nthis service against the benchmark peer (BentoML, the same model file), interleaved rows, medians',
  );
  console.log(
    '| clients | service images/s | peer images/s | ratio | service p50 / p99 ms | peer p50 / p99 ms | service CPU ms/image | peer CPU ms/image |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const p of peer.summary) {
    const [sv, pr] = [p.service, p.peer];
    console.log(
      `| ${p.clients} | ${sv.imagesPerSecond} | ${pr.imagesPerSecond} | ${p.throughputRatio} | ` +
        `${sv.p50Ms} / ${sv.p99Ms} | ${pr.p50Ms} / ${pr.p99Ms} | ${sv.cpuMsPerImage} | ${pr.cpuMsPerImage} |`,
    );
  }
  if (peer.decode?.peer.length) {
    console.log(
      `decoding alone, CPU ms per photo, the same JPEGs, two rounds interleaved: this service's native JPEG codec ${peer.decode.service.join(' / ')}, the peer's PIL (its model_pixels) ${peer.decode.peer.join(' / ')}`,
    );
    if (peer.decode.pixels) {
      const { photos, identical, largest, meanAbs } = peer.decode.pixels;
      console.log(
        `the model's pixels against the peer's (PIL), the same JPEGs: ${identical} of ${photos} byte-identical, largest difference ${largest}, mean ${meanAbs} a channel`,
      );
    }
    if (peer.decode.byWidth?.length) {
      console.log(
        `by photo width, this service / the peer: ${peer.decode.byWidth.map((r) => `${r.width} px ${r.service} / ${r.peer}`).join(', ')}`,
      );
    }
  }
}

const webhooksOff = webhookRuns('off');
const webhooksOn = webhookRuns('on');
const meanRate = (runs) =>
  runs.reduce((sum, r) => sum + r.sync[0].imagesPerSecond, 0) / runs.length;
const webhookRatio = round(meanRate(webhooksOn) / meanRate(webhooksOff), 3);
console.log(
  `\n32 clients without and with a webhook per image (receiver answering in 50 ms), ${webhookRounds} interleaved rounds (the order swapped every other round); CPU ms per image of the stack, the load generator (and its receiver) apart`,
);
console.log(
  '| round | without: images/s | with: images/s | without / with: stack CPU ms | without / with: load generator CPU ms | deliveries | distinct ids | owed at least |',
);
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const stackCpu = (run) =>
  round(
    Object.entries(run.sync[0].cpuMsPerImage)
      .filter(([name]) => name !== 'load generator')
      .reduce((sum, [, ms]) => sum + ms, 0),
    2,
  );
webhooksOn.forEach((on, i) => {
  const c = on.callbacks;
  const off = webhooksOff[i].sync[0];
  console.log(
    `| ${i + 1} | ${off.imagesPerSecond} | ${on.sync[0].imagesPerSecond} | ${stackCpu(webhooksOff[i])} / ${stackCpu(on)} | ${off.cpuMsPerImage['load generator']} / ${on.sync[0].cpuMsPerImage['load generator']} | ${c.deliveries} | ${c.distinctIds} | ${c.expectedAtLeast} |`,
  );
});

// The engine's int8 rows: the file the service runs, at batch 8 and one thread.
const int8At8 = engine.rows.find(
  (r) => r.precision === main.precision && r.threads === 1 && r.batch === 8,
);
const best =
  engine.best[main.precision]?.imagesPerSecond ??
  Math.max(...Object.values(engine.best).map((b) => b.imagesPerSecond));
const bound = 1.3 * (a.decodeCpuMsPerImage + modelCpu);
const at8 = (precision) =>
  engine.rows.find((r) => r.precision === precision && r.threads === 1 && r.batch === 8);
const fastRatio = round(
  (at8('int8-fast')?.imagesPerSecond ?? 0) / (at8('int8')?.imagesPerSecond ?? 1),
  2,
);
const peer32 = peer?.summary.find((p) => p.clients === 32);
const peer1 = peer?.summary.find((p) => p.clients === 1);
const targets = [
  peer32
    ? [
        `sync at 32 clients >= 1.0 x the peer (${peer32.throughputRatio})`,
        peer32.throughputRatio >= 1,
      ]
    : ['sync at 32 clients >= 1.0 x the peer (not run: BENCH_PEER=1)', false],
  [
    `p99 <= 2.5 x p50 at 32 clients (${round(s32.p99Ms / s32.p50Ms, 2)})`,
    s32.p99Ms <= 2.5 * s32.p50Ms,
  ],
  [
    `p50 at 1 client <= 15 ms and not above the peer's (${one.p50Ms}${peer1 ? `; peer ${peer1.peer.p50Ms}, service in the interleaved rows ${peer1.service.p50Ms}` : ''})`,
    one.p50Ms <= 15 && (!peer1 || peer1.service.p50Ms <= peer1.peer.p50Ms),
  ],
  [
    `total CPU per image at 32 clients <= 1.3 x (decoding + the model) = 1.3 x (${a.decodeCpuMsPerImage} + ${round(modelCpu, 2)}) = ${round(bound, 2)} ms (${round(total32, 2)})`,
    total32 <= bound,
  ],
  [
    `Redis commands per image <= 40 (${a.commandsPerImage}; the queue alone ${ownJob?.commandsPerImage} with one image a job, ${leastOne?.commandsPerImage} without join key nor priority)`,
    a.commandsPerImage <= 40,
  ],
  [
    `the engine's fastest int8 form >= 1.5 x the TFLite-exact int8 file at batch 8, one thread (int8-fast ${fastRatio} x)`,
    fastRatio >= 1.5,
  ],
  [
    `bulk >= 0.6 x the engine's best (${main.bulk.imagesPerSecond} / ${best} = ${round(main.bulk.imagesPerSecond / best, 2)})`,
    main.bulk.imagesPerSecond >= 0.6 * best,
  ],
  [
    `webhooks on: 32 clients within 5% of the same without (${webhookRatio} x)`,
    webhookRatio >= 0.95,
  ],
  [
    `peak resident memory under the bulk run: API <= 200 MB (${peakOf(main.bulkPeakRssMb, 'api')}), worker <= 300 MB (${peakOf(main.bulkPeakRssMb, 'worker')}); over the whole run ${peakOf(main.peakRssMb, 'api')} and ${peakOf(main.peakRssMb, 'worker')}`,
    peakOf(main.bulkPeakRssMb, 'api') <= 200 && peakOf(main.bulkPeakRssMb, 'worker') <= 300,
  ],
];
console.log(
  `\nthe engine at batch 8, one thread, ${main.precision}: ${int8At8?.imagesPerSecond} images/s`,
);
console.log('\ntargets');
for (const [what, ok] of targets) console.log(`- ${yes(ok)}: ${what}`);

const results = join(new URL('./results/', import.meta.url).pathname);
mkdirSync(results, { recursive: true });
writeFileSync(
  join(results, 'bench.json'),
  `${JSON.stringify({ engine, stack: main, batch1, upLayout, accounting, queueCost, peer, webhooksOff, webhooksOn, outsideModelCpuMs: round(outside, 2) }, null, 2)}\n`,
);
console.log(`\nwritten to ${join(results, 'bench.json')}`);
