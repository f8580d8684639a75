// Decoding alone, as the API does it (to the model's pixels): the figure the CPU target's bound
// is built on, and the one the peer's decoding is set against.
import { toModelInput } from '../../packages/shared/dist/index.js';

const round = (x, digits = 2) => Number(x.toFixed(digits));

/** CPU ms per photo of `toModelInput`, four at a time, after one pass to warm up. */
export async function decodeCpuMs(photos, rounds = 20) {
  await Promise.all(photos.map((p) => toModelInput(p.bytes)));
  const before = process.cpuUsage();
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < photos.length; j += 4) {
      await Promise.all(photos.slice(j, j + 4).map((p) => toModelInput(p.bytes)));
    }
  }
  const used = process.cpuUsage(before);
  return round((used.user + used.system) / 1000 / (rounds * photos.length));
}
