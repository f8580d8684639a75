import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@imagerec/shared';
import { benchEngine, formatEngineBench } from './measure-engine.js';

// pnpm bench:engine: both precisions, printed and written to bench/results/engine.json.

const RESULTS = fileURLToPath(new URL('../../../../bench/results/engine.json', import.meta.url));

const config = loadConfig();
const result = await benchEngine({
  modelDir: config.model.dir,
  mirrorDir: config.model.mirrorDir,
  log: (message) => console.error(message),
});
for (const line of formatEngineBench(result)) console.log(line);

await mkdir(dirname(RESULTS), { recursive: true });
await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
console.log(`results written to ${RESULTS}`);
