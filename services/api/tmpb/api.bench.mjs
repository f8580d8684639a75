import { buildApp } from '../dist/app.js';
import { loadConfig, prepareUpload } from '@imagerec/shared';
import { loadPhotos, MULTIPART_TYPE, multipart } from '../../../bench/lib/photos.mjs';
const photos = await loadPhotos('/work/shared/images');
const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6390', MONGODB_URL: 'mongodb://127.0.0.1:27030/apibench', QUEUE_NAME: 'apibench', LOG_LEVEL: 'warn', MODEL_DIR: '/work/main/models' });
const app = await buildApp(config);
await app.ready();
const N = 200;
async function run(name, fn) {
  for (let i = 0; i < 20; i++) await fn(i);
  const c0 = process.cpuUsage(); const t0 = performance.now();
  let i = 0;
  await Promise.all(Array.from({ length: 4 }, async () => { while (i < N) await fn(i++); }));
  const c = process.cpuUsage(c0);
  console.log(name.padEnd(30), 'cpu ms/img', ((c.user + c.system) / 1000 / N).toFixed(2), 'wall ms/img', ((performance.now() - t0) / N).toFixed(2));
}
await run('prepareUpload only', (i) => prepareUpload(photos[i % 12].bytes, { maxPixels: 4e7 }));
await run('inject POST /v1/jobs', async (i) => {
  const r = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': MULTIPART_TYPE }, payload: multipart([photos[i % 12]]) });
  if (r.statusCode !== 202) throw new Error(r.body);
});
await run('prepareUpload only', (i) => prepareUpload(photos[i % 12].bytes, { maxPixels: 4e7 }));
await app.close();
