import { describe, expect, it } from 'vitest';
import {
  CURSOR_PATTERN,
  formatCursor,
  historyMember,
  pageBound,
  parseCursor,
} from './history-index.js';

describe('history index keys', () => {
  it('orders members as text exactly as by (createdAt, job id)', () => {
    const entries = [
      { jobId: 'b', createdAt: new Date(5) },
      { jobId: 'a', createdAt: new Date(1_700_000_000_000) },
      { jobId: 'a', createdAt: new Date(5) },
      { jobId: 'z', createdAt: new Date(99_000) },
    ];
    const byText = entries.map(historyMember).sort();
    const byValue = [...entries]
      .sort(
        (x, y) => x.createdAt.getTime() - y.createdAt.getTime() || x.jobId.localeCompare(y.jobId),
      )
      .map(historyMember);
    expect(byText).toEqual(byValue);
  });

  it('round-trips a cursor, job ids with underscores included', () => {
    for (const jobId of ['seed_1_x', '6d9448be-7bdc-444b-92f6-887f3534a7ed']) {
      const entry = { jobId, createdAt: new Date('2026-11-25T16:58:22.556Z') };
      const text = formatCursor(entry);
      expect(text).toMatch(new RegExp(CURSOR_PATTERN));
      expect(parseCursor(text)).toEqual(entry);
    }
  });

  it('takes the milliseconds alone as the page bound, and refuses anything else', () => {
    expect(parseCursor('1764089902556')).toEqual({ createdAt: new Date(1_764_089_902_556) });
    for (const bad of ['yesterday', '2026-11-25T16:58:22.556Z', '1764089902556:', '123', '']) {
      expect(parseCursor(bad), bad).toBeUndefined();
    }
  });

  it('bounds a page strictly before the cursor', () => {
    const at = new Date(1_000);
    expect(pageBound()).toBe('+');
    expect(pageBound({ createdAt: at })).toBe('(0000000001000');
    expect(pageBound({ createdAt: at, jobId: 'j' })).toBe('(0000000001000:j');
    // A bare date excludes every job of that millisecond; a cursor only those up to its job.
    expect(historyMember({ jobId: 'a', createdAt: at }) > '0000000001000').toBe(true);
  });
});
