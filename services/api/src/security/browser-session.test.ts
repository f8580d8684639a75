import { describe, expect, it } from 'vitest';
import { sessionKeyId, sessionValue } from './browser-session.js';

describe('browser session value', () => {
  const now = Date.UTC(2026, 0, 1);

  it('names its key until it expires, then nothing', () => {
    const value = sessionValue('ops:team.a', now, 60);
    expect(sessionKeyId(value, now)).toBe('ops:team.a');
    expect(sessionKeyId(value, now + 59_000)).toBe('ops:team.a');
    expect(sessionKeyId(value, now + 60_000)).toBeNull();
  });

  it('refuses malformed values', () => {
    for (const value of ['', 'ops', '.ops', '123.', 'x1.ops', '1e9.ops']) {
      expect(sessionKeyId(value, now), value).toBeNull();
    }
  });
});
