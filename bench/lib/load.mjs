// Load through HTTP with autocannon: every request carries a unique upload.
import autocannon from 'autocannon';
import { MULTIPART_TYPE, multipart } from './photos.mjs';

const round = (x, digits = 1) => Number(x.toFixed(digits));

/**
 * Synchronous predicts from `connections` clients for `seconds` (or `amount` requests), each a
 * different photo with unique bytes. Returns images/s, latency percentiles, status counts, and
 * the mean batch size and inference time the answers report.
 */
export async function syncLoad({
  url,
  photos,
  connections,
  seconds,
  amount,
  path = '/v1/predict',
}) {
  let i = 0;
  const answered = { batchSize: 0, inferenceMs: 0, queuedMs: 0, totalMs: 0, count: 0, accepted: 0 };
  const result = await autocannon({
    url: `${url}${path}`,
    connections,
    ...(amount ? { amount } : { duration: seconds }),
    timeout: 120,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': MULTIPART_TYPE },
        setupRequest: (req) => ({ ...req, body: multipart([photos[i++ % photos.length]]) }),
        onResponse: (status, body) => {
          if (status === 202) answered.accepted++;
          if (status !== 200) return;
          // Another system's answer (the benchmark peer's) has no timings.
          const { timings } = JSON.parse(body);
          if (!timings) return;
          answered.batchSize += timings.batchSize;
          answered.inferenceMs += timings.inferenceMs;
          answered.queuedMs += timings.queuedMs;
          answered.totalMs += timings.totalMs;
          answered.count++;
        },
      },
    ],
  });
  const ok = result['2xx'] - answered.accepted;
  return {
    connections,
    requests: result.requests.total,
    ok,
    accepted202: answered.accepted,
    otherStatus: result.non2xx,
    errors: result.errors + result.timeouts,
    seconds: round(result.duration),
    imagesPerSecond: round(ok / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    meanBatch: answered.count ? round(answered.batchSize / answered.count) : 0,
    meanInferenceMs: answered.count ? round(answered.inferenceMs / answered.count) : 0,
    // From acceptance (before preprocessing) to the batch's start, and to the end of inference.
    meanQueuedMs: answered.count ? round(answered.queuedMs / answered.count) : 0,
    meanToInferredMs: answered.count ? round(answered.totalMs / answered.count) : 0,
    meanLatencyMs: round(result.latency.average),
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
