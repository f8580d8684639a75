import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envSchema, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('gives defaults as a typed, nested object', () => {
    const config = loadConfig({});
    expect(config.api.port).toBe(3000);
    expect(config.api.maxUploadBytes).toBe(10 * 1024 * 1024);
    expect(config.worker).toEqual({
      maxBatch: 8,
      maxBatchDelayMs: 0,
      intraOpThreads: 1,
      lockMs: 5000,
      stalledCheckMs: 5000,
    });
    expect(config.api.cacheResults).toBe(true);
    expect(config.model.precision).toBe('int8');
  });

  it('coerces values from strings', () => {
    const config = loadConfig({
      API_PORT: '3101',
      CACHE_RESULTS: 'false',
      PUBLIC_BASE_URL: 'https://x.io/',
      MODEL_PRECISION: 'fp32',
    });
    expect(config.model.precision).toBe('fp32');
    expect(config.api.port).toBe(3101);
    expect(config.api.cacheResults).toBe(false);
    expect(config.api.publicBaseUrl).toBe('https://x.io');
  });

  it('reads API keys and proxies as lists, and refuses a short key', () => {
    const config = loadConfig({
      API_KEYS: 'ci:0123456789abcdef0123, fedcba9876543210fedc',
      TRUST_PROXY: '127.0.0.1, 10.0.0.0/8',
    });
    expect(config.security.apiKeys).toEqual([
      { id: 'ci', secret: '0123456789abcdef0123' },
      { id: null, secret: 'fedcba9876543210fedc' },
    ]);
    expect(config.api.trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8']);
    expect(loadConfig({}).security.apiKeys).toEqual([]);
    expect(() => loadConfig({ API_KEYS: 'ci:short' })).toThrow('API_KEYS');
    for (const proxy of ['1', 'nginx', '10.0.0.0/8, api']) {
      expect(() => loadConfig({ TRUST_PROXY: proxy }), proxy).toThrow('TRUST_PROXY');
    }
  });

  it('requires a session secret in production with API keys, and a long one', () => {
    const keys = { NODE_ENV: 'production', API_KEYS: 'ci:0123456789abcdef0123' } as const;
    expect(() => loadConfig(keys)).toThrow('SESSION_SECRET');
    const secret = 'a'.repeat(32);
    expect(loadConfig({ ...keys, SESSION_SECRET: secret }).security.session).toEqual({
      secret,
      ttlS: 8 * 3600,
    });
    // Compose passes an unset variable as empty: outside production that is "none".
    expect(loadConfig({ SESSION_SECRET: '' }).security.session.secret).toBeUndefined();
    expect(() => loadConfig({ SESSION_SECRET: 'short' })).toThrow('SESSION_SECRET');
    expect(() => loadConfig({ SESSION_TTL_S: '10' })).toThrow('SESSION_TTL_S');
  });

  it('fails fast, naming every bad variable', () => {
    const load = () =>
      loadConfig({
        API_PORT: 'eighty',
        MAX_BATCH: '0',
        REDIS_URL: 'nope',
        MODEL_PRECISION: 'int4',
      });
    expect(load).toThrow(/^Invalid configuration:/);
    for (const name of ['API_PORT', 'MAX_BATCH', 'REDIS_URL', 'MODEL_PRECISION']) {
      expect(load).toThrow(name);
    }
  });

  it('is documented: the README table lists every variable with its default', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const [name, schema] of Object.entries(envSchema.shape)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      const fallback = (schema as { def: { defaultValue?: unknown } }).def.defaultValue;
      if (fallback !== undefined && fallback !== '') expect(row, name).toContain(String(fallback));
    }
  });
});
