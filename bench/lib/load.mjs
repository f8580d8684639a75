// Load through HTTP with autocannon: every request carries a unique upload.
import autocannon from 'autocannon';
import { MULTIPART_TYPE, multipart } from './photos.mjs';

const round = (x, digits = 1) => Number(x.toFixed(digits));

/**
 * Synchronous predicts from `connections` clients, `amount` requests in all, each a different
 * photo with unique bytes. Returns images/s, latency percentiles, status counts, and the CPU
 * the load generator itself used (it shares the machine).
 */
export async function syncLoad({ url, photos, connections, amount, path = '/v1/predict' }) {
  let i = 0;
  const cpu = process.cpuUsage();
  const result = await autocannon({
    url: `${url}${path}`,
    connections,
    amount,
    timeout: 120,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': MULTIPART_TYPE },
        setupRequest: (req) => ({ ...req, body: multipart([photos[i++ % photos.length]]) }),
      },
    ],
  });
  const used = process.cpuUsage(cpu);
  const ok = result['2xx'];
  return {
    connections,
    requests: result.requests.sent ?? amount,
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    seconds: round(result.duration),
    imagesPerSecond: round(ok / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    loadCpuMs: round((used.user + used.system) / 1000, 0),
  };
}

/** p50 of `count` sequential GETs of `path`, in ms; fails on anything but 200. */
export async function getP50(url, path, count = 20) {
  const times = [];
  for (let n = 0; n < count; n++) {
    const t = performance.now();
    const res = await fetch(`${url}${path}`);
    await res.arrayBuffer();
    times.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  }
  times.sort((a, b) => a - b);
  return round(times[Math.floor(times.length / 2)], 2);
}
