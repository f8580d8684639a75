import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareModel } from '@imagerec/model';
import { loadConfig, MODEL_INFO } from '@imagerec/shared';
import * as ort from 'onnxruntime-node';
import { Classifier, IMAGE_BYTES } from '../inference/classifier.js';

// Raw engine throughput: one session.run per batch, no preprocessing, no queue.

const BATCH_SIZES = [1, 8, 32];
const WARM_UP_RUNS = 2;
const MIN_RUNS = 5;
const MAX_RUNS = 100;
/** Bounds the whole bench to well under a minute on 2 cores. */
const TIME_PER_SIZE_MS = 6_000;
const RESULTS = fileURLToPath(new URL('../../../../bench/results/engine.json', import.meta.url));

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** Deterministic noise images; the engine's cost does not depend on content. */
function images(count: number): Uint8Array[] {
  let seed = 42;
  return Array.from({ length: count }, () =>
    Uint8Array.from({ length: IMAGE_BYTES }, () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed >>> 24;
    }),
  );
}

const config = loadConfig();
const threads = config.worker.intraOpThreads;
const model = await prepareModel({
  ...config.model,
  log: (message) => console.error(message),
});
const classifier = await Classifier.create({ ...model, intraOpThreads: threads });
const pool = images(Math.max(...BATCH_SIZES));

const results = [];
try {
  for (const size of BATCH_SIZES) {
    const batch = pool.slice(0, size);
    for (let i = 0; i < WARM_UP_RUNS; i++) await classifier.classify(batch, 5);
    const times: number[] = [];
    const started = performance.now();
    while (
      times.length < MIN_RUNS ||
      (times.length < MAX_RUNS && performance.now() - started < TIME_PER_SIZE_MS)
    ) {
      const t0 = performance.now();
      await classifier.classify(batch, 5);
      times.push(performance.now() - t0);
    }
    const msPerBatch = median(times);
    results.push({
      batch: size,
      runs: times.length,
      msPerBatch: round(msPerBatch, 2),
      msPerImage: round(msPerBatch / size, 2),
      imagesPerSecond: round((1000 * size) / msPerBatch, 1),
      msPerBatchMin: round(Math.min(...times), 2),
      msPerBatchMax: round(Math.max(...times), 2),
    });
  }
} finally {
  await classifier.close();
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `engine: onnxruntime-node ${ort.env.versions.node} on ${cpu} (${availableParallelism()} cores), ` +
    `intra-op threads ${threads}, model ${MODEL_INFO.name}@${MODEL_INFO.version}`,
);
console.log('| batch | runs | ms/batch (median) | ms/image | images/s |');
console.log('| ----: | ---: | ----------------: | -------: | -------: |');
for (const r of results) {
  console.log(
    `| ${r.batch} | ${r.runs} | ${r.msPerBatch.toFixed(2)} | ${r.msPerImage.toFixed(2)} | ${r.imagesPerSecond.toFixed(1)} |`,
  );
}

await mkdir(dirname(RESULTS), { recursive: true });
await writeFile(
  RESULTS,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      onnxruntime: ort.env.versions.node,
      cpu,
      cores: availableParallelism(),
      intraOpThreads: threads,
      model: MODEL_INFO,
      warmUpRuns: WARM_UP_RUNS,
      results,
    },
    null,
    2,
  )}\n`,
);
console.log(`results written to ${RESULTS}`);
