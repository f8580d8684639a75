// What one image costs the stack's shared parts, counted rather than timed: Redis commands (the
// ones scripts run included), round trips, script calls, events, bytes, and MongoDB writes, over
// a fixed number of synchronous predicts. Redis's own counters answer for everything but the
// split between commands from clients and from scripts, which a second pass reads from MONITOR.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeCpuMs } from './lib/decode.mjs';
import { syncLoad } from './lib/load.mjs';
import { loadPhotos } from './lib/photos.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    'redis-port': { type: 'string', default: '6379' },
    /** The stack's /metrics endpoints (APIs and workers), comma-separated. */
    metrics: { type: 'string', default: '' },
    images: { type: 'string', default: new URL('../../shared/images/', import.meta.url).pathname },
    count: { type: 'string', default: '400' },
    clients: { type: 'string', default: '8' },
    /** Where the stack's processes write their JSON counts (bench/lib/count-json.mjs), if they do. */
    'json-counts': { type: 'string' },
    out: { type: 'string' },
  },
});
const BASE = values.url.replace(/\/$/, '');
const COUNT = Number(values.count);
const round = (x, digits = 1) => Number(x.toFixed(digits));

const redisCli = (...args) =>
  execFileSync('redis-cli', ['-p', values['redis-port'], ...args], { encoding: 'utf8' });

/** `INFO` section as name -> number (commandstats: cmdstat_x -> calls). */
function info(section) {
  const out = {};
  for (const line of redisCli('info', section).split('\n')) {
    const m = /^(\w+):(.*)$/.exec(line.trim());
    if (!m) continue;
    const calls = /calls=(\d+)/.exec(m[2]);
    out[m[1]] = calls ? Number(calls[1]) : Number(m[2]);
  }
  return out;
}

const diff = (after, before) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));

/** Sum of one metric's samples over every /metrics endpoint of the stack. */
async function metricSum(name) {
  let sum = 0;
  for (const url of values.metrics.split(',').filter(Boolean)) {
    const text = await (await fetch(url)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
        sum += Number(line.split(' ').at(-1));
    }
  }
  return sum;
}

/** JSON.stringify and JSON.parse calls and characters, summed over every process and thread. */
async function jsonCounts() {
  const dir = values['json-counts'];
  if (!dir) return undefined;
  // Each process writes its totals twice a second: wait for the latest.
  await new Promise((resolve) => setTimeout(resolve, 700));
  const sum = { stringify: 0, stringifyChars: 0, parse: 0, parseChars: 0 };
  for (const f of readdirSync(dir)) {
    const counts = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    for (const k of Object.keys(sum)) sum[k] += counts[k];
  }
  return sum;
}

const photos = await loadPhotos(values.images);
const decodeMsPerImage = await decodeCpuMs(photos);
const load = () =>
  syncLoad({ url: BASE, photos, connections: Number(values.clients), amount: COUNT });
// Warm-up, so connections and the first batches are not counted.
await syncLoad({ url: BASE, photos, connections: 4, amount: 40 });

// Pass 1, counters only: every command (a script's own ones counted), bytes, MongoDB writes.
const before = { cmd: info('commandstats'), stats: info('stats') };
const writesBefore = await metricSum('imagerec_mongo_write_duration_seconds_count');
const jsonBefore = await jsonCounts();
const counted = await load();
const writes = (await metricSum('imagerec_mongo_write_duration_seconds_count')) - writesBefore;
const jsonAfter = await jsonCounts();
const cmd = diff(info('commandstats'), before.cmd);
const stats = diff(info('stats'), before.stats);
const images = counted.ok;

// Pass 2, with MONITOR: which commands came from clients (round trips) and which from scripts.
const monitor = spawn('redis-cli', ['-p', values['redis-port'], 'monitor']);
const fromClients = {};
const fromScripts = {};
let tail = '';
monitor.stdout.on('data', (chunk) => {
  const lines = (tail + chunk).split('\n');
  tail = lines.pop();
  for (const line of lines) {
    const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
    if (!m) continue;
    const name = m[2].toLowerCase();
    const into = m[1] === 'lua' ? fromScripts : fromClients;
    into[name] = (into[name] ?? 0) + 1;
  }
});
await new Promise((resolve) => setTimeout(resolve, 300));
const monitored = await load();
await new Promise((resolve) => setTimeout(resolve, 300));
monitor.kill();
const total = (o) => Object.values(o).reduce((a, b) => a + b, 0);

const perImage = (n, of = images) => round(n / of, 2);
const commands = total(cmd);
const result = {
  images,
  clients: Number(values.clients),
  commandsPerImage: perImage(commands),
  // Round trips: what clients sent (MULTI/EXEC pipelines count each command they carry).
  clientCommandsPerImage: perImage(total(fromClients), monitored.ok),
  scriptCommandsPerImage: perImage(total(fromScripts), monitored.ok),
  scriptCallsPerImage: perImage((cmd.cmdstat_evalsha ?? 0) + (cmd.cmdstat_eval ?? 0)),
  eventsPublishedPerImage: perImage((cmd.cmdstat_xadd ?? 0) + (cmd.cmdstat_publish ?? 0)),
  xreadPerImage: perImage(cmd.cmdstat_xread ?? 0),
  bytesInPerImage: Math.round(stats.total_net_input_bytes / images),
  bytesOutPerImage: Math.round(stats.total_net_output_bytes / images),
  mongoWritesPerImage: perImage(writes),
  ...(jsonBefore && {
    json: Object.fromEntries(
      Object.keys(jsonBefore).map((k) => [k, perImage(jsonAfter[k] - jsonBefore[k])]),
    ),
  }),
  decodeCpuMsPerImage: decodeMsPerImage,
  top: Object.entries(cmd)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([k, v]) => [k.replace('cmdstat_', ''), perImage(v)]),
  topFromClients: Object.entries(fromClients)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => [k, perImage(v, monitored.ok)]),
};
if (values.out) {
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
}
console.log(
  `per image over ${images} sync predicts at ${values.clients} clients: ${result.commandsPerImage} Redis commands ` +
    `(${result.clientCommandsPerImage} from clients, ${result.scriptCommandsPerImage} inside scripts), ` +
    `${result.scriptCallsPerImage} script calls, ${result.eventsPublishedPerImage} events published, ` +
    `${result.bytesInPerImage} B in / ${result.bytesOutPerImage} B out, ${result.mongoWritesPerImage} MongoDB writes` +
    (result.json
      ? `, ${result.json.stringify} JSON encodes, ${result.json.parse} JSON parses`
      : '') +
    '; ' +
    `decoding alone ${decodeMsPerImage} CPU ms`,
);
