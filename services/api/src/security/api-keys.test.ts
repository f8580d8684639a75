import { describe, expect, it } from 'vitest';
import { ApiKeys } from './api-keys.js';

describe('ApiKeys', () => {
  const keys = new ApiKeys([
    { id: 'ci', secret: 'ci-secret-0123456789' },
    { id: null, secret: 'bare-secret-0123456789' },
  ]);

  it('names the key a Bearer token matches, by id', () => {
    expect(keys.enabled).toBe(true);
    expect(keys.identify('Bearer ci-secret-0123456789')).toBe('ci');
    expect(keys.identify('bearer  ci-secret-0123456789 ')).toBe('ci');
  });

  it('gives a bare key an id from its hash, never the key', () => {
    const id = keys.identify('Bearer bare-secret-0123456789');
    expect(id).toMatch(/^key-[0-9a-f]{8}$/);
    expect(id).not.toContain('bare-secret');
  });

  it('matches nothing for a wrong, partial, missing or non-Bearer credential', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ci-secret-012345678',
      'Bearer ci-secret-0123456789x',
      'Basic ci-secret-0123456789',
      'ci-secret-0123456789',
    ]) {
      expect(keys.identify(header), String(header)).toBeNull();
    }
  });

  it('is off with no keys', () => {
    expect(new ApiKeys([]).enabled).toBe(false);
  });

  it("names the key of a sign-in form's secret, and knows which ids are configured", () => {
    expect(keys.identifySecret('ci-secret-0123456789')).toBe('ci');
    expect(keys.identifySecret('')).toBeNull();
    expect(keys.identifySecret('Bearer ci-secret-0123456789')).toBeNull();
    expect(keys.has('ci')).toBe(true);
    expect(keys.has('gone')).toBe(false);
  });
});
