import { describe, expect, it } from 'vitest';
import { MetricName, QUEUE_DEPTH_STATES, ServiceMetrics, ServiceName } from './metrics.js';

describe('ServiceMetrics', () => {
  it('labels every sample with the service and includes process CPU and memory', async () => {
    const text = await new ServiceMetrics(ServiceName.Worker).metrics();
    expect(text).toMatch(/^process_cpu_seconds_total\{service="worker"\} /m);
    expect(text).toMatch(/^process_resident_memory_bytes\{service="worker"\} /m);
    // Counters others increment exist from the start, at zero.
    expect(text).toContain(`${MetricName.JobsExpired}{service="worker"} 0`);
    expect(text).toContain(`${MetricName.CacheLookups}{result="hit",service="worker"} 0`);
    expect(text).toContain(`# TYPE ${MetricName.JobsRefused} counter`);
  });

  it('reads queue depth by state when scraped, zero for a state not reported', async () => {
    const metrics = new ServiceMetrics(ServiceName.Api);
    let waiting = 4;
    metrics.trackQueue(async () => ({ waiting, active: 2 }));
    const first = await metrics.metrics();
    expect(first).toContain(`${MetricName.QueueJobs}{state="waiting",service="api"} 4`);
    expect(first).toContain(`${MetricName.QueueJobs}{state="active",service="api"} 2`);
    expect(first).toContain(`${MetricName.QueueJobs}{state="failed",service="api"} 0`);
    waiting = 7;
    expect(await metrics.metrics()).toContain(
      `${MetricName.QueueJobs}{state="waiting",service="api"} 7`,
    );
    const states = [
      ...first.matchAll(new RegExp(`^${MetricName.QueueJobs}\\{state="(\\w+)"`, 'gm')),
    ];
    expect(states.map((m) => m[1])).toEqual([...QUEUE_DEPTH_STATES]);
  });

  it('times work into a histogram, also when it fails', async () => {
    const metrics = new ServiceMetrics(ServiceName.Worker);
    await metrics.time(metrics.mongoWriteDuration, async () => 'ok');
    await expect(
      metrics.time(metrics.mongoWriteDuration, async () => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    const count = (await metrics.mongoWriteDuration.get()).values.find(
      (v) => v.metricName === `${MetricName.MongoWriteDuration}_count`,
    );
    expect(count?.value).toBe(2);
  });
});
