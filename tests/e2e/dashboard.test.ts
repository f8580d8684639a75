import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedis } from '@imagerec/shared';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noisePng } from '../support/images.js';
import { multipartBody } from '../support/multipart.js';
import { API_URLS, NGINX_URL, OUTPUT_DIR, WORKER_URLS } from '../support/stack.js';
import { REPO_ROOT, stackConfig } from '../support/test-config.js';

/** Debian's prometheus (scripts/setup installs it), on a port of this test's own. */
const PROMETHEUS = process.env.PROMETHEUS_PATH ?? 'prometheus';
const PROMETHEUS_URL = `http://127.0.0.1:${process.env.E2E_PROMETHEUS_PORT ?? 9190}`;
const SCRAPE_S = 1;
/**
 * Grafana's variables as Grafana sets them for a graph of 1 s steps:
 * $__interval is the step, $__rate_interval max($__interval + scrape interval, 4 scrape intervals).
 */
const STEP_S = 1;
const RATE_INTERVAL_S = Math.max(STEP_S + SCRAPE_S, 4 * SCRAPE_S);
const grafanaVariables = (expr: string, range = `${RATE_INTERVAL_S}s`) =>
  expr
    .replaceAll('$__rate_interval', range)
    .replaceAll('$__interval', `${STEP_S}s`)
    .replaceAll('$__range', range);
/** Images in the load: unique noise, so none is answered from the result cache. */
const IMAGES = 64;
/**
 * rate() extrapolates the increase it sees between its first and last sample to its window's
 * edges, up to a scrape interval on each side. The window reaches RATE_MARGIN_S before and
 * after the drain, so it is at least 20 s long and the increase at most 2/18 (11%) too high.
 */
const RATE_MARGIN_S = 10 * SCRAPE_S;
const RATE_TOLERANCE = 0.15;

interface Panel {
  id: number;
  title: string;
  targets: { refId: string; expr: string }[];
}
interface Series {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

const hostPort = (url: string) => new URL(url).host;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nowS = () => Date.now() / 1000;
async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs = 30_000) {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(250)) {
    if (await ready()) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function prometheus(path: string, params: Record<string, string | number>) {
  const query = new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  );
  const res = await fetch(`${PROMETHEUS_URL}${path}?${query}`);
  const body = (await res.json()) as { status: string; data: { result: Series[] }; error?: string };
  if (body.status !== 'success') throw new Error(`${path} ${params.query}: ${body.error}`);
  return body.data.result;
}
const instant = (query: string, time: number) => prometheus('/api/v1/query', { query, time });
const sum = (series: Series[]) => series.reduce((n, s) => n + Number(s.value?.[1]), 0);

describe('the Grafana dashboard evaluated by Prometheus against the running stack under load', () => {
  const panels = (
    JSON.parse(
      readFileSync(join(REPO_ROOT, 'deploy/grafana/dashboards/imagerec.json'), 'utf8'),
    ) as { panels: Panel[] }
  ).panels;
  const config = stackConfig();
  const queue = new Queue(config.queue.name, { connection: createRedis(config.redis.url) });
  const unfinished = async () => {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'paused');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  };
  let server: ChildProcess | undefined;
  let dir: string;
  let log = '';
  /** What the load generator saw: accepted jobs, and when the workers started and finished. */
  const load = { accepted: [] as string[], depthAt: 0, resumedAt: 0, finishedAt: 0, start: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
    const scrape = (job: string, urls: string[]) => ({
      job_name: job,
      static_configs: [{ targets: urls.map(hostPort) }],
    });
    // JSON is YAML: the same jobs as deploy/prometheus/prometheus.yml, with static targets.
    writeFileSync(
      join(dir, 'prometheus.yml'),
      JSON.stringify({
        global: { scrape_interval: `${SCRAPE_S}s`, evaluation_interval: `${SCRAPE_S}s` },
        scrape_configs: [scrape('api', API_URLS), scrape('worker', WORKER_URLS)],
      }),
    );
    server = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=${hostPort(PROMETHEUS_URL)}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout?.on('data', (d) => (log += d));
    server.stderr?.on('data', (d) => (log += d));
    await waitFor('Prometheus ready', async () => {
      if (server?.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
      const res = await fetch(`${PROMETHEUS_URL}/-/ready`).catch(() => null);
      return res?.status === 200;
    });
    // Every API and worker scraped at least once.
    const targets = API_URLS.length + WORKER_URLS.length;
    await waitFor(
      'every target up',
      async () => sum(await instant('sum(up)', nowS()).catch(() => [])) === targets,
    );
  });

  afterAll(async () => {
    // Stopped also when a test failed: nothing of this test outlives it.
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    if (await queue.isPaused()) await queue.resume();
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(join(OUTPUT_DIR, 'prometheus.log'), log);
  });

  it('shows the queue depth the load generator built, then its images per second', async () => {
    load.start = nowS();
    // Readers throughout, as the history page's clients are: HTTP series that keep growing.
    let reading = true;
    const readers = (async () => {
      while (reading) {
        await fetch(`${NGINX_URL}/v1/predictions?limit=1`).then((r) => r.arrayBuffer());
        await sleep(100);
      }
    })();
    try {
      await loadAndCheck();
    } finally {
      reading = false;
      await readers;
    }
  });

  /** Uploads held in the paused queue, then drained by the workers, each checked against its panel. */
  async function loadAndCheck() {
    // Jobs of earlier test files would count in both panels: start from an idle queue.
    await waitFor('an idle queue', async () => (await unfinished()) === 0, 120_000);
    // Paused, the queue only grows: its depth is exactly what was accepted.
    await queue.pause();
    try {
      for (let sent = 0; sent < IMAGES; sent += 32) {
        const files = await Promise.all(
          Array.from({ length: Math.min(32, IMAGES - sent) }, async (_, i) => ({
            filename: `dashboard-${sent + i}.png`,
            bytes: await noisePng(24),
          })),
        );
        const { payload, headers } = await multipartBody(files);
        const res = await fetch(`${NGINX_URL}/v1/jobs`, { method: 'POST', body: payload, headers });
        expect(res.status).toBe(202);
        const { jobs } = (await res.json()) as { jobs: { id: string }[] };
        load.accepted.push(...jobs.map((j) => j.id));
      }
      expect(load.accepted).toHaveLength(IMAGES);
      // Two scrapes later every API and worker has read the depth from Redis.
      await sleep(3 * SCRAPE_S * 1000);
      load.depthAt = nowS();
    } finally {
      await queue.resume();
    }

    const depthPanel = panels.find((p) => /queue depth/i.test(p.title)) as Panel;
    const depth = await instant(grafanaVariables(depthPanel.targets[0]?.expr ?? ''), load.depthAt);
    const waiting = depth.filter((s) => ['waiting', 'prioritized'].includes(s.metric.state ?? ''));
    console.info(`queue depth panel: ${sum(waiting)} waiting, load generator: ${IMAGES} accepted`);
    expect(sum(waiting), JSON.stringify(depth)).toBe(IMAGES);

    // The workers drain the queue; the generator times it.
    load.resumedAt = nowS();
    await expect.poll(unfinished, { timeout: 120_000, interval: 100 }).toBe(0);
    load.finishedAt = nowS();
    // A window from before the first image to after the last, scraped flat on both sides.
    const from = load.resumedAt - RATE_MARGIN_S;
    const to = load.finishedAt + RATE_MARGIN_S;
    await sleep((to - nowS() + 2 * SCRAPE_S) * 1000);
    const window = Math.round(to - from);
    const seen = IMAGES / window;

    const throughput = panels.find((p) => /images classified per second/i.test(p.title)) as Panel;
    for (const target of throughput.targets) {
      const rate = sum(await instant(grafanaVariables(target.expr, `${window}s`), to));
      console.info(
        `images/s panel ${target.refId}: Prometheus ${rate.toFixed(3)}, load generator ${seen.toFixed(3)} (${IMAGES} images in ${window} s)`,
      );
      expect(
        Math.abs(rate - seen) / seen,
        `${target.refId}: Prometheus ${rate.toFixed(2)}/s, generator ${seen.toFixed(2)}/s over ${window}s`,
      ).toBeLessThanOrEqual(RATE_TOLERANCE);
    }
  }

  it('answers every panel query with series that hold values', async () => {
    expect(load.finishedAt, 'the load ran').toBeGreaterThan(0);
    const empty: string[] = [];
    for (const panel of panels) {
      for (const target of panel.targets) {
        const series = await prometheus('/api/v1/query_range', {
          query: grafanaVariables(target.expr),
          start: load.start,
          end: nowS(),
          step: STEP_S,
        });
        const values = series.flatMap((s) => s.values ?? []).map(([, v]) => Number(v));
        if (!values.some(Number.isFinite))
          empty.push(`panel ${panel.id} "${panel.title}" ${target.refId}`);
      }
    }
    expect(empty).toEqual([]);
  });
});
