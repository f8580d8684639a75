// What the queue alone costs an image: BullMQ as the service uses it (the classify queue's job
// options, an interactive job joined by its content key, the consumer's lock and concurrency
// settings, one QueueEvents reader as each API runs, whose completed events wake the waiting
// clients), with a worker that does nothing, so that neither decoding nor the model nor storage
// count. Jobs of 1 image are the service's; the same without a join key or a priority is the
// least a job of one image costs in BullMQ; jobs of several images show what a job carrying a
// batch would cost. Counted on the stack's Redis.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ClassifyQueue,
  createClassifyWorker,
  createRedis,
  JobName,
  JobPriority,
  loadConfig,
} from '../packages/shared/dist/index.js';

// The shared package's own BullMQ, so that the events reader is the one the API runs.
const { QueueEvents } = createRequire(new URL('../packages/shared/', import.meta.url))('bullmq');

const { values } = parseArgs({
  options: {
    'redis-port': { type: 'string', default: '6379' },
    clients: { type: 'string', default: '8' },
    images: { type: 'string', default: '3200' },
    out: { type: 'string' },
  },
});
const port = values['redis-port'];
const CLIENTS = Number(values.clients);
const IMAGES = Number(values.images);
const round = (x, digits = 2) => Number(x.toFixed(digits));
const config = loadConfig();
/**
 * One row each: the service's job; the same without what only the service needs (a join key
 * and a priority), BullMQ's least for a job of one image; jobs of several images, which could
 * not join by an image's content.
 */
const ROWS = [
  { imagesPerJob: 1, joinKey: true, priority: true },
  { imagesPerJob: 1, joinKey: false, priority: false },
  { imagesPerJob: 4, joinKey: false, priority: true },
  { imagesPerJob: 8, joinKey: false, priority: true },
];

const redisCli = (...args) =>
  execFileSync('redis-cli', ['-p', port, ...args], { encoding: 'utf8' });
/** Every command Redis ran, those inside scripts included. */
const commandsRun = () =>
  [...redisCli('info', 'commandstats').matchAll(/calls=(\d+)/g)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
const redisPid = /process_id:(\d+)/.exec(redisCli('info', 'server'))[1];
/** Redis's CPU so far, ms (utime + stime, in clock ticks of 10 ms). */
const redisCpuMs = () => {
  const fields = readFileSync(`/proc/${redisPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

// One image's job data and result, of the sizes the service's are (a 4-6 KB JPEG thumbnail).
const imageData = () => ({
  upload: {
    filename: 'photo.jpg',
    sha256: randomBytes(32).toString('hex'),
    byteSize: 120_000,
    width: 1024,
    height: 768,
    format: 'jpeg',
  },
  thumbnail: randomBytes(4500).toString('base64'),
  topK: 5,
  acceptedAt: Date.now(),
  deadline: Date.now() + 30_000,
});
const imageResult = () => ({
  predictions: Array.from({ length: 5 }, (_, i) => ({ index: i, label: `label ${i}`, score: 0.1 })),
  model: { name: 'mobilenet_v2_1.0_224_quant', version: '7aad0c74c5e3-int8' },
  timings: { queuedMs: 10, inferenceMs: 50, totalMs: 70, batchSize: 8 },
  cached: false,
  processedBy: 'bench:1',
});

async function measure({ imagesPerJob: size, joinKey, priority }) {
  const name = `queue-cost-${size}-${randomUUID().slice(0, 8)}`;
  // Three connections, as the API (queue, events) and the worker have their own.
  const [connection, eventsConnection, workerConnection] = [1, 2, 3].map(() =>
    createRedis(`redis://127.0.0.1:${port}`),
  );
  const queue = new ClassifyQueue(connection, { ...config.queue, name });
  const events = new QueueEvents(name, { connection: eventsConnection });
  const worker = createClassifyWorker(
    workerConnection,
    async (job) => (size === 1 ? imageResult() : job.data.images.map(imageResult)),
    { queueName: name, ...config.worker },
  );
  await Promise.all([
    events.waitUntilReady(),
    worker.waitUntilReady(),
    queue.bull.waitUntilReady(),
  ]);

  // As the API's job waiters: one listener on the completed events, each job's waiter
  // registered before it is added, and no Redis read a job (Job.waitUntilFinished would run
  // BullMQ's isFinished script for each).
  const waiting = new Map();
  events.on('completed', ({ jobId }) => {
    waiting.get(jobId)?.();
    waiting.delete(jobId);
  });
  const addAndWait = async () => {
    const jobId = randomUUID();
    const done = new Promise((resolve) => waiting.set(jobId, resolve));
    await queue.bull.add(
      JobName.Classify,
      size === 1 ? imageData() : { images: Array.from({ length: size }, imageData) },
      {
        jobId,
        ...(priority && { priority: JobPriority.Interactive }),
        ...(joinKey && { deduplication: { id: randomUUID() } }),
      },
    );
    await done;
  };
  let issued = 0;
  const client = async () => {
    while (issued < IMAGES) {
      issued += size;
      await addAndWait();
    }
  };
  const [commands, redisMs, cpu, started] = [
    commandsRun(),
    redisCpuMs(),
    process.cpuUsage(),
    performance.now(),
  ];
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const result = {
    imagesPerJob: size,
    joinKey,
    priority,
    images: issued,
    commandsPerImage: round((commandsRun() - commands) / issued),
    redisCpuMsPerImage: round((redisCpuMs() - redisMs) / issued),
    clientsCpuMsPerImage: round((used.user + used.system) / 1000 / issued),
    imagesPerSecond: round(issued / seconds, 1),
  };
  await worker.close();
  await events.close();
  await queue.bull.obliterate({ force: true });
  await queue.close();
  for (const c of [connection, eventsConnection, workerConnection]) await c.quit();
  return result;
}

const rows = [];
for (const row of ROWS) rows.push(await measure(row));
if (values.out) {
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify({ clients: CLIENTS, rows }, null, 2)}\n`);
}
for (const r of rows) {
  console.log(
    `the queue alone, ${r.imagesPerJob} image(s) a job (join key ${r.joinKey ? 'yes' : 'no'}, priority ${r.priority ? 'yes' : 'no'}), ${CLIENTS} clients: ${r.commandsPerImage} Redis commands, ` +
      `Redis ${r.redisCpuMsPerImage} CPU ms and its clients ${r.clientsCpuMsPerImage} CPU ms an image`,
  );
}
