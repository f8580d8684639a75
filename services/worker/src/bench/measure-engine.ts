import { availableParallelism, cpus, loadavg } from 'node:os';
import { prepareModel } from '@imagerec/model';
import { MODEL_PRECISIONS, MODEL_SPEC, type ModelPrecision, modelInfo } from '@imagerec/shared';
import * as ort from 'onnxruntime-node';
import { Classifier } from '../inference/classifier.js';

// Raw engine throughput: one session.run per batch, no preprocessing, no queue.

export const BATCH_SIZES = [1, 8, 32];
/**
 * int8-exact is left out: TFLite's arithmetic in int64 operators takes about 300 ms per image,
 * minutes for the batch-32 rows, and is there for fidelity, not speed.
 */
export const BENCHED_PRECISIONS = MODEL_PRECISIONS.filter((p) => p !== 'int8-exact');
export const THREAD_COUNTS = [1, 2];
const WARM_UP_RUNS = 2;
const MIN_RUNS = 5;
const MAX_RUNS = 100;
/** 3 precisions x 2 thread counts x 3 batch sizes: about a minute and a half on 2 cores. */
const TIME_PER_ROW_MS = 4_000;

export interface EngineRow {
  precision: ModelPrecision;
  threads: number;
  batch: number;
  runs: number;
  msPerBatch: number;
  msPerImage: number;
  imagesPerSecond: number;
  msPerBatchMin: number;
  msPerBatchMax: number;
  /** CPU time of the whole process per image, every onnxruntime thread included. */
  cpuMsPerImage: number;
}

export interface EngineBenchResult {
  date: string;
  node: string;
  onnxruntime: string;
  cpu: string;
  cores: number;
  /** The 1-minute load average when the bench started: other work on the cores skews it. */
  loadAverage: number;
  warmUpRuns: number;
  rows: EngineRow[];
  /** Each precision's fastest row by images/s. */
  best: Record<ModelPrecision, EngineRow>;
}

export interface EngineBenchOptions {
  modelDir: string;
  mirrorDir?: string | undefined;
  precisions?: readonly ModelPrecision[];
  log?: (message: string) => void;
}

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
    Uint8Array.from({ length: MODEL_SPEC.inputBytes }, () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed >>> 24;
    }),
  );
}

/**
 * Runs the classifiers on the batch in turn, one run each a round, so that other load on the
 * cores weighs on each alike run by run; until each has MIN_RUNS and TIME_PER_ROW_MS each has
 * passed, or MAX_RUNS.
 */
async function measureInTurn(classifiers: readonly Classifier[], batch: Uint8Array[]) {
  for (const classifier of classifiers) {
    for (let i = 0; i < WARM_UP_RUNS; i++) await classifier.classify(batch, 5);
  }
  const samples = classifiers.map((classifier) => ({
    classifier,
    times: [] as number[],
    cpuMicros: 0,
  }));
  const started = performance.now();
  const budgetMs = TIME_PER_ROW_MS * classifiers.length;
  for (
    let round = 0;
    round < MAX_RUNS && (round < MIN_RUNS || performance.now() - started < budgetMs);
    round++
  ) {
    for (const sample of samples) {
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      await sample.classifier.classify(batch, 5);
      sample.times.push(performance.now() - t0);
      const used = process.cpuUsage(cpu);
      sample.cpuMicros += used.user + used.system;
    }
  }
  return samples.map(({ times, cpuMicros }) => {
    const msPerBatch = median(times);
    return {
      cpuMsPerImage: round(cpuMicros / 1000 / (times.length * batch.length), 2),
      runs: times.length,
      msPerBatch: round(msPerBatch, 2),
      msPerImage: round(msPerBatch / batch.length, 2),
      imagesPerSecond: round((1000 * batch.length) / msPerBatch, 1),
      msPerBatchMin: round(Math.min(...times), 2),
      msPerBatchMax: round(Math.max(...times), 2),
    };
  });
}

/** Medians of repeated runs of each precision, at each thread count and batch size. */
export async function benchEngine(opts: EngineBenchOptions): Promise<EngineBenchResult> {
  const precisions = opts.precisions ?? BENCHED_PRECISIONS;
  const loadAverage = round(loadavg()[0] ?? 0, 2);
  const pool = images(Math.max(...BATCH_SIZES));
  const rows: EngineRow[] = [];
  const models = [];
  for (const precision of precisions) {
    models.push(
      await prepareModel({
        dir: opts.modelDir,
        mirrorDir: opts.mirrorDir,
        precision,
        log: opts.log,
      }),
    );
  }
  for (const threads of THREAD_COUNTS) {
    const classifiers: Classifier[] = [];
    try {
      for (const model of models) {
        classifiers.push(await Classifier.create({ ...model, intraOpThreads: threads }));
      }
      for (const batch of BATCH_SIZES) {
        const measured = await measureInTurn(classifiers, pool.slice(0, batch));
        measured.forEach((m, i) => {
          rows.push({ precision: precisions[i] as ModelPrecision, threads, batch, ...m });
        });
      }
    } finally {
      for (const classifier of classifiers) await classifier.close();
    }
  }
  const best = Object.fromEntries(
    precisions.map((p) => [
      p,
      rows
        .filter((r) => r.precision === p)
        .reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a)),
    ]),
  ) as Record<ModelPrecision, EngineRow>;
  return {
    date: new Date().toISOString(),
    node: process.version,
    onnxruntime: ort.env.versions.node ?? 'unknown',
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    cores: availableParallelism(),
    loadAverage,
    warmUpRuns: WARM_UP_RUNS,
    rows,
    best,
  };
}

/** The result as printed: a header, one table row per measurement, a best line per precision. */
export function formatEngineBench(r: EngineBenchResult): string[] {
  const lines = [
    `engine: onnxruntime-node ${r.onnxruntime} on ${r.cpu} (${r.cores} cores, load average ${r.loadAverage} at start)`,
    '| precision | threads | batch | runs | ms/batch (median) | ms/image | images/s | CPU ms/image |',
    '| --- | ---: | ----: | ---: | ----------------: | -------: | -------: | ---: |',
    ...r.rows.map(
      (row) =>
        `| ${row.precision} | ${row.threads} | ${row.batch} | ${row.runs} | ${row.msPerBatch.toFixed(2)} | ${row.msPerImage.toFixed(2)} | ${row.imagesPerSecond.toFixed(1)} | ${row.cpuMsPerImage.toFixed(2)} |`,
    ),
  ];
  for (const [precision, row] of Object.entries(r.best)) {
    const { name, version } = modelInfo(precision as ModelPrecision);
    lines.push(
      `best ${precision}: ${row.imagesPerSecond.toFixed(1)} images/s ` +
        `(batch ${row.batch}, ${row.threads} thread${row.threads === 1 ? '' : 's'}, ${name}@${version})`,
    );
  }
  const ratio = fastRatio(r.rows);
  if (ratio) {
    lines.push(
      `int8-fast / int8 at batch ${RATIO_BATCH}, 1 thread: ${ratio.imagesPerSecond.toFixed(2)}x images/s ` +
        `(fastest runs ${ratio.fastestRuns.toFixed(2)}x), ${ratio.cpu.toFixed(2)}x less CPU per image ` +
        '(target >= 1.5x images/s)',
    );
  }
  return lines;
}

/** The row the int8 forms are compared at: the worker's default batch, one thread. */
const RATIO_BATCH = 8;

/** int8-fast against int8 at batch 8, one thread; undefined without both. */
export function fastRatio(rows: readonly EngineRow[]) {
  const at = (precision: ModelPrecision) =>
    rows.find((r) => r.precision === precision && r.threads === 1 && r.batch === RATIO_BATCH);
  const fast = at('int8-fast');
  const int8 = at('int8');
  if (!fast || !int8) return undefined;
  return {
    imagesPerSecond: fast.imagesPerSecond / int8.imagesPerSecond,
    // Other load on the cores only ever slows a run down: the fastest runs show it least.
    fastestRuns: int8.msPerBatchMin / fast.msPerBatchMin,
    cpu: int8.cpuMsPerImage / fast.cpuMsPerImage,
  };
}
