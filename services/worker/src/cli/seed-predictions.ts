import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { prepareModel } from '@imagerec/model';
import {
  DEFAULT_THUMBNAIL_SIZE,
  loadConfig,
  modelInfo,
  PredictionRepository,
  THUMBNAIL_QUALITY,
} from '@imagerec/shared';
import sharp from 'sharp';
import { seedRecord } from '../seed/seed-records.js';

// Fills the configured database with finished predictions, the way the worker stores them
// (MongoDB documents, history index, content cache): `pnpm db:seed --count 100000`.

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    days: { type: 'string', default: '28' },
    batch: { type: 'string', default: '1000' },
  },
});
const count = Number(values.count);
const spanDays = Number(values.days);
const batch = Number(values.batch);
if (
  !(Number.isInteger(count) && count > 0 && spanDays > 0 && Number.isInteger(batch) && batch > 0)
) {
  console.error('usage: pnpm db:seed [--count N] [--days D] [--batch B]');
  process.exit(2);
}

/** Photo-like JPEG thumbnails (noisy gradients), of the size real ones have. */
async function makeThumbnails(n: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const [w, h] = [DEFAULT_THUMBNAIL_SIZE, 72 + ((i * 7) % 56)];
      const raw = Buffer.alloc(w * h * 3);
      for (let p = 0; p < w * h; p++) {
        const x = p % w;
        const y = Math.floor(p / w);
        raw[p * 3] = (x * 2 + i * 40 + Math.random() * 40) & 255;
        raw[p * 3 + 1] = (y * 3 + i * 20 + Math.random() * 40) & 255;
        raw[p * 3 + 2] = (x + y + i * 60 + Math.random() * 40) & 255;
      }
      return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
        .jpeg({ quality: THUMBNAIL_QUALITY })
        .toBuffer();
    }),
  );
}

const config = loadConfig();
const model = await prepareModel({ ...config.model, log: () => {} });
const repository = await PredictionRepository.connect(config);
const opts = {
  now: new Date(),
  spanDays,
  labels: model.labels,
  thumbnails: await makeThumbnails(32),
  model: modelInfo(config.model.precision),
  processedBy: `${hostname()}:seed`,
  random: Math.random,
};

const started = performance.now();
let sampleJobId = '';
try {
  for (let done = 0; done < count; ) {
    const n = Math.min(batch, count - done);
    const records = Array.from({ length: n }, (_, i) => seedRecord(done + i, opts));
    sampleJobId ||= records[0]?.jobId ?? '';
    await repository.upsertMany(records);
    done += n;
    if (done % (batch * 10) === 0 || done === count) {
      const s = (performance.now() - started) / 1000;
      console.error(`seeded ${done}/${count} in ${s.toFixed(1)} s`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      seeded: count,
      seconds: Number(seconds.toFixed(1)),
      perSecond: Math.round(count / seconds),
      sampleJobId,
    }),
  );
} finally {
  await repository.close();
}
