import { describe, expect, it } from 'vitest';
import { type Backend, backoffDelay, redactUrl, waitForBackends } from './wait-for-backends.js';

const recorder = () => {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    log: {
      info: (obj: object, msg: string) => lines.push({ level: 'info', obj: { ...obj }, msg }),
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: { ...obj }, msg }),
    },
  };
};

/** A backend that fails `failures` times, then answers. */
const flaky = (name: string, failures: number): Backend & { calls: number } => {
  const backend = {
    name,
    target: `tcp://${name.toLowerCase()}:1`,
    calls: 0,
    check: async () => {
      backend.calls++;
      if (backend.calls <= failures) throw new Error(`connect ECONNREFUSED (${backend.calls})`);
    },
  };
  return backend;
};

describe('backoffDelay', () => {
  it('doubles from the first delay and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, 500, 10_000))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
  });
});

describe('redactUrl', () => {
  it('keeps scheme, host, port and path, drops the credentials and the query', () => {
    expect(redactUrl('mongodb://app:s3cret@mongo:27017/imagerec?authSource=admin')).toBe(
      'mongodb://mongo:27017/imagerec',
    );
    expect(redactUrl('redis://:s3cret@redis:6379')).toBe('redis://redis:6379');
  });

  it('never echoes a URL it cannot parse', () => {
    expect(redactUrl('not a url :s3cret@')).toBe('(unparsable URL)');
  });
});

describe('waitForBackends', () => {
  it('retries each backend with backoff, one line per failure naming what it waits for', async () => {
    const redis = flaky('Redis', 0);
    const mongo = flaky('MongoDB', 3);
    const slept: number[] = [];
    const { lines, log } = recorder();
    await waitForBackends([redis, mongo], {
      log,
      initialDelayMs: 100,
      maxDelayMs: 250,
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    expect(redis.calls).toBe(1);
    expect(mongo.calls).toBe(4);
    expect(slept).toEqual([100, 200, 250]);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings.map((l) => l.msg)).toEqual(
      Array(3).fill('waiting for MongoDB at tcp://mongodb:1'),
    );
    expect(warnings[2]?.obj).toMatchObject({
      dependency: 'MongoDB',
      attempt: 3,
      retryInMs: 250,
      reason: 'connect ECONNREFUSED (3)',
    });
    expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'MongoDB is reachable' });
  });

  it('waits for the first backend before asking the second', async () => {
    const order: string[] = [];
    const backend = (name: string): Backend => ({
      name,
      target: name,
      check: async () => {
        order.push(name);
      },
    });
    await waitForBackends([backend('Redis'), backend('MongoDB')], { log: recorder().log });
    expect(order).toEqual(['Redis', 'MongoDB']);
  });
});
