// Two builds of this service, each on a stack of its own (scripts/bench-compare), under the same
// load in interleaved rows: this checkout ("head") against an earlier commit ("base"). Prints
// each row, then the medians, head over base; writes JSON to --out.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { interleavedRows, summarize } from './lib/interleave.mjs';
import { loadPhotos } from './lib/photos.mjs';
import { stackProcesses } from './lib/stack.mjs';

const { values } = parseArgs({
  options: {
    'base-label': { type: 'string', default: 'base' },
    'base-url': { type: 'string' },
    'base-run-dir': { type: 'string' },
    'head-url': { type: 'string' },
    'head-run-dir': { type: 'string' },
    clients: { type: 'string', default: '1,32' },
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '15' },
    images: { type: 'string', default: new URL('../../shared/images/', import.meta.url).pathname },
    out: { type: 'string' },
  },
});
const side = (name) => ({
  url: values[`${name}-url`].replace(/\/$/, ''),
  path: '/v1/predict',
  processes: stackProcesses(values[`${name}-run-dir`]),
});
const systems = { head: side('head'), base: side('base') };
const rows = await interleavedRows({
  systems,
  photos: await loadPhotos(values.images),
  clientCounts: values.clients.split(',').map(Number),
  rounds: Number(values.rounds),
  seconds: Number(values.seconds),
});
const summary = summarize(rows, ['head', 'base']);

const ratio = (a, b) => (b > 0 ? Number((a / b).toFixed(2)) : '-');
const kinds = Object.keys(summary[0]?.head.cpuByKind ?? {});
console.log(
  `\nthis checkout (head) against ${values['base-label']} (base), each on a stack of its own, ` +
    `${values.rounds} interleaved rounds of ${values.seconds} s, medians`,
);
console.log(
  `| clients | images/s: head / base | ratio | p50 / p99 ms: head | p50 / p99 ms: base | CPU ms/image: head / base | ${kinds.map((k) => `${k}: head / base`).join(' | ')} |`,
);
console.log(`| ---: | ---: | ---: | ---: | ---: | ---: |${kinds.map(() => ' ---: |').join('')}`);
for (const s of summary) {
  const { head, base } = s;
  console.log(
    `| ${s.clients} | ${head.imagesPerSecond} / ${base.imagesPerSecond} | ${s.throughputRatio} | ` +
      `${head.p50Ms} / ${head.p99Ms} | ${base.p50Ms} / ${base.p99Ms} | ` +
      `${head.cpuMsPerImage} / ${base.cpuMsPerImage} (${ratio(head.cpuMsPerImage, base.cpuMsPerImage)}) | ` +
      `${kinds.map((k) => `${head.cpuByKind[k]} / ${base.cpuByKind[k]}`).join(' | ')} |`,
  );
}
if (values.out) {
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ base: values['base-label'], rows, summary }, null, 2)}\n`,
  );
}
