// Two systems under the same load in interleaved rows: the machine's speed drifts over minutes
// (by a fifth and more between runs), so each pair of rows is measured back to back, in
// alternating order, and compared by their medians.
import { syncLoad } from './load.mjs';
import { cpuPerImage, cpuSnapshot } from './stack.mjs';

const round = (x, digits = 1) => Number(x.toFixed(digits));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return round(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, 2);
};

/**
 * `systems`: name -> { url, path, processes } (processes: name -> pid, for CPU per image), the
 * first two compared. Sync predicts from each client count for `seconds`, `rounds` times, the
 * order swapped every other round. Returns every row; prints each as it ends.
 */
export async function interleavedRows({ systems, photos, clientCounts, rounds, seconds }) {
  const names = Object.keys(systems);
  for (const name of names) {
    await syncLoad({ ...systems[name], photos, connections: 4, amount: 40 });
  }
  const rows = [];
  for (let r = 0; r < rounds; r++) {
    for (const clients of clientCounts) {
      const order = r % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const { url, path, processes } = systems[name];
        const before = cpuSnapshot(processes);
        const result = await syncLoad({ url, path, photos, connections: clients, seconds });
        const { 'load generator': _, ...byKind } = cpuPerImage(
          before,
          cpuSnapshot(processes),
          Math.max(1, result.ok),
        );
        const row = {
          round: r + 1,
          system: name,
          clients,
          imagesPerSecond: result.imagesPerSecond,
          p50Ms: result.p50Ms,
          p99Ms: result.p99Ms,
          notOk: result.requests - result.ok,
          cpuMsPerImage: round(
            Object.values(byKind).reduce((a, b) => a + b, 0),
            2,
          ),
          cpuByKind: byKind,
        };
        rows.push(row);
        console.log(
          `round ${row.round}, ${name}, ${clients} clients: ${row.imagesPerSecond} images/s, ` +
            `p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, CPU ${row.cpuMsPerImage} ms/image, not 200: ${row.notOk}`,
        );
      }
    }
  }
  return rows;
}

/** Per client count, each system's medians, and the first system's images/s over the second's. */
export function summarize(rows, names) {
  const clientCounts = [...new Set(rows.map((r) => r.clients))];
  return clientCounts.map((clients) => {
    const mine = (name) => rows.filter((x) => x.system === name && x.clients === clients);
    const medians = (name) => {
      const of = (key) => median(mine(name).map((x) => x[key]));
      const kinds = Object.keys(mine(name)[0]?.cpuByKind ?? {});
      return {
        imagesPerSecond: of('imagesPerSecond'),
        p50Ms: of('p50Ms'),
        p99Ms: of('p99Ms'),
        cpuMsPerImage: of('cpuMsPerImage'),
        cpuByKind: Object.fromEntries(
          kinds.map((k) => [k, median(mine(name).map((x) => x.cpuByKind[k]))]),
        ),
      };
    };
    const s = { clients, ...Object.fromEntries(names.map((n) => [n, medians(n)])) };
    const [a, b] = names;
    s.throughputRatio = round(s[a].imagesPerSecond / s[b].imagesPerSecond, 2);
    return s;
  });
}
