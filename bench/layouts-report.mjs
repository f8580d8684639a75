// The summary of scripts/bench-layouts: each layout's median over its rounds, per client count.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const runs = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    layout: f.replace(/-\d+\.json$/, ''),
    ...JSON.parse(readFileSync(join(dir, f))),
  }));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const clients = [...new Set(runs.flatMap((r) => r.sync.map((s) => s.connections)))].sort(
  (a, b) => a - b,
);
const layouts = [...new Set(runs.map((r) => r.layout))];
console.log('\nmedian over rounds: images/s (p50 ms) at each client count');
console.log(
  `| APIs:workers:threads | rounds | ${clients.map((c) => `${c} clients`).join(' | ')} |`,
);
console.log(`| --- | ---: | ${clients.map(() => '---:').join(' | ')} |`);
for (const layout of layouts) {
  const mine = runs.filter((r) => r.layout === layout);
  const cells = clients.map((c) => {
    const rows = mine.flatMap((r) => r.sync.filter((s) => s.connections === c));
    return `${median(rows.map((s) => s.imagesPerSecond))} (${median(rows.map((s) => s.p50Ms))})`;
  });
  console.log(`| ${layout} | ${mine.length} | ${cells.join(' | ')} |`);
}
