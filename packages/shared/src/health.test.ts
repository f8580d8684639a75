import { describe, expect, it } from 'vitest';
import { checkReadiness, OPEN_PATHS } from './health.js';

describe('checkReadiness', () => {
  it('is ready when every check passes', async () => {
    const r = await checkReadiness({ redis: async () => 'PONG', model: () => true });
    expect(r).toEqual({ ready: true, checks: { redis: true, model: true } });
  });

  it('names each failing check: false, a throw or a rejection', async () => {
    const r = await checkReadiness({
      redis: async () => {
        throw new Error('ECONNREFUSED');
      },
      mongo: () => Promise.reject(new Error('timeout')),
      model: () => false,
      queue: () => true,
    });
    expect(r).toEqual({
      ready: false,
      checks: { redis: false, mongo: false, model: false, queue: true },
    });
  });

  it('fails a check that does not answer in time', async () => {
    const r = await checkReadiness({ redis: () => new Promise(() => {}), model: () => true }, 20);
    expect(r).toEqual({ ready: false, checks: { redis: false, model: true } });
  });
});

describe('OPEN_PATHS', () => {
  it('holds every probe, metrics and autoscaler path, and nothing else', () => {
    expect([...OPEN_PATHS].sort()).toEqual([
      '/health',
      '/healthz',
      '/metrics',
      '/queue-depth',
      '/readyz',
    ]);
  });
});
