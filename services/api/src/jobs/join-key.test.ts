import { JobPriority } from '@imagerec/shared';
import { describe, expect, it } from 'vitest';
import { joinKey } from './join-key.js';

const base = { sha256: 'ab'.repeat(32), modelVersion: 'v1', topK: 5, priority: JobPriority.Bulk };

describe('joinKey', () => {
  it('is the same for the same bytes, model, topK and lane', () => {
    expect(joinKey(base)).toBe(joinKey({ ...base }));
    expect(joinKey({ ...base, deadline: 1 })).toBe(joinKey({ ...base, deadline: 2 }));
  });

  it('differs by bytes, model version, topK and lane', () => {
    const keys = [
      base,
      { ...base, sha256: 'cd'.repeat(32) },
      { ...base, modelVersion: 'v2' },
      { ...base, topK: 3 },
      { ...base, priority: JobPriority.Interactive },
      { ...base, priority: JobPriority.Interactive, deadline: 1 },
    ].map(joinKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
