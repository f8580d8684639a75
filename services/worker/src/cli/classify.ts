import { readFile } from 'node:fs/promises';
import { prepareModel } from '@imagerec/model';
import { errorMessage, loadConfig, toModelInput } from '@imagerec/shared';
import { Classifier } from '../inference/classifier.js';

// Classifies image files in-process (no queue, no database): one JSON line per image.

const TOP_K = 5;
const round = (value: number, digits: number) => Number(value.toFixed(digits));

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: pnpm classify <image...>');
  process.exit(2);
}

const config = loadConfig();
const model = await prepareModel({
  ...config.model,
  // stdout carries only the results.
  log: (message) => console.error(message),
});
const classifier = await Classifier.create({
  ...model,
  intraOpThreads: config.worker.intraOpThreads,
});
try {
  for (const file of files) {
    const started = performance.now();
    try {
      const pixels = await toModelInput(await readFile(file), { maxPixels: config.api.maxPixels });
      const [top = []] = await classifier.classify([pixels], TOP_K);
      const ms = round(performance.now() - started, 1);
      const scored = top.map((p) => ({ ...p, score: round(p.score, 4) }));
      console.log(JSON.stringify({ file, top: scored, ms }));
    } catch (err) {
      console.log(JSON.stringify({ file, error: errorMessage(err) }));
      process.exitCode = 1;
    }
  }
} finally {
  await classifier.close();
}
