// This service against the benchmark peer (a plain batching server, ../shared/peers/bentoml) on
// the same model file, the same photos and the same load generator, in interleaved rows
// (lib/interleave.mjs). Prints each row; writes JSON to --out.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { MODEL_SPEC, toModelInput } from '../packages/shared/dist/index.js';
import { decodeCpuMs } from './lib/decode.mjs';
import { interleavedRows, summarize } from './lib/interleave.mjs';
import { loadPhotos } from './lib/photos.mjs';
import { stackProcesses } from './lib/stack.mjs';

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

const rows = await interleavedRows({
  systems,
  photos,
  clientCounts: values.clients.split(',').map(Number),
  rounds: Number(values.rounds),
  seconds: Number(values.seconds),
});
const summary = summarize(rows, ['service', 'peer']);

/**
 * Runs peer-decode.py, the peer's own code in its own Python, on `photos` (written to a folder
 * as NN-name), with the arguments `extra` gives for that folder; `read` gets its output, the
 * folder and the names.
 */
function runPeerDecode(photos, extra, read) {
  // The interpreter the peer runs: the first word of its command line.
  const python = readFileSync(`/proc/${values['peer-pid']}/cmdline`, 'utf8').split('\0')[0];
  const dir = mkdtempSync(join(tmpdir(), 'bench-photos-'));
  try {
    const names = photos.map((p, i) => `${String(i).padStart(2, '0')}-${p.name}`);
    for (const [i, p] of photos.entries()) writeFileSync(join(dir, names[i]), p.bytes);
    const script = new URL('./peer-decode.py', import.meta.url).pathname;
    const out = execFileSync(python, [script, values['peer-dir'], dir, ...extra(dir)], {
      encoding: 'utf8',
    });
    return read(out, dir, names);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The peer's decoding alone on `photos`, CPU ms per photo. */
const peerDecodeCpuMs = (photos, rounds = 20) =>
  runPeerDecode(
    photos,
    () => [String(rounds)],
    (out) => JSON.parse(out.trim().split('\n').at(-1)).cpuMsPerImage,
  );

/** This service's model pixels against the peer's, photo by photo. */
async function pixelsAgainstPeer(photos) {
  // Written beside the photos, in the folder that runPeerDecode removes.
  const theirs = runPeerDecode(
    photos,
    (dir) => ['0', dir],
    (_, dir, names) => names.map((name) => readFileSync(join(dir, `${name}.rgb`))),
  );
  let identical = 0;
  let largest = 0;
  let sum = 0;
  for (const [i, photo] of photos.entries()) {
    const ours = await toModelInput(photo.bytes);
    if (ours.equals(theirs[i])) identical++;
    for (let j = 0; j < ours.length; j++) {
      const d = Math.abs(ours[j] - theirs[i][j]);
      largest = Math.max(largest, d);
      sum += d;
    }
  }
  const meanAbs = Number((sum / (photos.length * MODEL_SPEC.inputBytes)).toFixed(3));
  return { photos: photos.length, identical, largest, meanAbs };
}

// Decoding alone, in this process and in the peer's Python, two rounds interleaved; then by the
// photos' width, to show whether the gap grows with the photo (the report prints it).
const decode = { service: [], peer: [], byWidth: [], pixels: undefined };
if (values['peer-dir'] && values['peer-pid']) {
  decode.pixels = await pixelsAgainstPeer(photos);
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
