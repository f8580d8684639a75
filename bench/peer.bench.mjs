// This service against the benchmark peer (a plain batching server, ../shared/peers/bentoml) on
// the same model file, the same photos and the same load generator, in interleaved rows: the
// machine's speed drifts over minutes, so each pair of rows is measured back to back, in
// alternating order. Prints each row and the ratios; writes JSON to --out.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeCpuMs } from './lib/decode.mjs';
import { syncLoad } from './lib/load.mjs';
import { loadPhotos } from './lib/photos.mjs';
import { cpuPerImage, cpuSnapshot, stackProcesses } from './lib/stack.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    'run-dir': { type: 'string' },
    'peer-url': { type: 'string', default: 'http://127.0.0.1:5006' },
    /** The peer's first process: its descendants are its workers. */
    'peer-pid': { type: 'string' },
    /** The peer's folder (its service.py): its decoding is measured too. */
    'peer-dir': { type: 'string' },
    clients: { type: 'string', default: '1,32' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '15' },
    images: { type: 'string', default: new URL('../../shared/images/', import.meta.url).pathname },
    out: { type: 'string' },
  },
});
const round = (x, digits = 1) => Number(x.toFixed(digits));
const photos = await loadPhotos(values.images);
const systems = {
  service: {
    url: values.url.replace(/\/$/, ''),
    path: '/v1/predict',
    processes: values['run-dir'] ? stackProcesses(values['run-dir']) : {},
  },
  peer: {
    url: values['peer-url'].replace(/\/$/, ''),
    path: '/predict',
    processes: values['peer-pid'] ? { peer: Number(values['peer-pid']) } : {},
  },
};

async function row(name, clients) {
  const { url, path, processes } = systems[name];
  const before = cpuSnapshot(processes);
  const r = await syncLoad({
    url,
    path,
    photos,
    connections: clients,
    seconds: Number(values.seconds),
  });
  const cpu = cpuPerImage(before, cpuSnapshot(processes), Math.max(1, r.ok));
  const { 'load generator': _, ...own } = cpu;
  return {
    system: name,
    clients,
    imagesPerSecond: r.imagesPerSecond,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    notOk: r.requests - r.ok,
    cpuMsPerImage: round(
      Object.values(own).reduce((a, b) => a + b, 0),
      2,
    ),
  };
}

for (const name of Object.keys(systems)) {
  await syncLoad({ ...systems[name], photos, connections: 4, amount: 40 });
}
const rows = [];
const clientCounts = values.clients.split(',').map(Number);
for (let r = 0; r < Number(values.rounds); r++) {
  for (const clients of clientCounts) {
    const order = r % 2 === 0 ? ['service', 'peer'] : ['peer', 'service'];
    for (const name of order) {
      const result = { round: r + 1, ...(await row(name, clients)) };
      rows.push(result);
      console.log(
        `round ${result.round}, ${name}, ${clients} clients: ${result.imagesPerSecond} images/s, ` +
          `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, CPU ${result.cpuMsPerImage} ms/image, not 200: ${result.notOk}`,
      );
    }
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return round(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, 2);
};
const summary = clientCounts.map((clients) => {
  const of = (name, key) =>
    median(rows.filter((x) => x.system === name && x.clients === clients).map((x) => x[key]));
  const s = {
    clients,
    service: {
      imagesPerSecond: of('service', 'imagesPerSecond'),
      p50Ms: of('service', 'p50Ms'),
      p99Ms: of('service', 'p99Ms'),
      cpuMsPerImage: of('service', 'cpuMsPerImage'),
    },
    peer: {
      imagesPerSecond: of('peer', 'imagesPerSecond'),
      p50Ms: of('peer', 'p50Ms'),
      p99Ms: of('peer', 'p99Ms'),
      cpuMsPerImage: of('peer', 'cpuMsPerImage'),
    },
  };
  s.throughputRatio = round(s.service.imagesPerSecond / s.peer.imagesPerSecond, 2);
  return s;
});

/** The peer's decoding alone on `photos`, by its own code in its own Python. */
function peerDecodeCpuMs(photos, rounds = 20) {
  // The interpreter the peer runs: the first word of its command line.
  const python = readFileSync(`/proc/${values['peer-pid']}/cmdline`, 'utf8').split('\0')[0];
  const dir = mkdtempSync(join(tmpdir(), 'bench-photos-'));
  try {
    photos.forEach((p, i) => {
      writeFileSync(join(dir, `${String(i).padStart(2, '0')}-${p.name}`), p.bytes);
    });
    const script = new URL('./peer-decode.py', import.meta.url).pathname;
    const out = execFileSync(python, [script, values['peer-dir'], dir, String(rounds)], {
      encoding: 'utf8',
    });
    return JSON.parse(out.trim().split('\n').at(-1)).cpuMsPerImage;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Decoding alone, in this process and in the peer's Python, two rounds interleaved; then by the
// photos' width, where the JPEG decoders' shrink-on-load factors differ (the report prints it).
const decode = { service: [], peer: [], byWidth: [] };
if (values['peer-dir'] && values['peer-pid']) {
  for (let r = 0; r < 2; r++) {
    decode.service.push(await decodeCpuMs(photos));
    decode.peer.push(peerDecodeCpuMs(photos));
  }
  for (const width of [...new Set(photos.map((p) => p.width))].sort((a, b) => a - b)) {
    const group = photos.filter((p) => p.width === width);
    decode.byWidth.push({
      width,
      service: await decodeCpuMs(group, 40),
      peer: peerDecodeCpuMs(group, 40),
    });
  }
  console.log(
    `decoding alone, CPU ms per photo: this service ${decode.service.join(' / ')}, the peer ${decode.peer.join(' / ')}`,
  );
}
if (values.out) {
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify({ rows, summary, decode }, null, 2)}\n`);
}
