import { AppError, JobPriority } from '@imagerec/shared';
import { describe, expect, it } from 'vitest';
import { UploadBudget } from './upload-budget.js';

const MIB = 1024 * 1024;
const settled = () => new Promise((r) => setTimeout(r, 5));

describe('UploadBudget', () => {
  it('counts a request at least one unit and at most the whole budget', () => {
    const budget = new UploadBudget(MIB, 1000);
    expect(budget.unitsFor(0)).toBe(1);
    expect(budget.unitsFor(100_000)).toBe(2);
    expect(budget.unitsFor(50 * MIB)).toBe(budget.unitsFor(MIB));
  });

  it('holds a request until enough is released; a release twice gives back once', async () => {
    const budget = new UploadBudget(MIB, 10_000);
    const first = await budget.acquire(MIB / 2, JobPriority.Bulk);
    const second = await budget.acquire(MIB / 2, JobPriority.Bulk);
    expect(budget.freeBytes).toBe(0);
    let third = false;
    const waiting = budget.acquire(MIB / 2, JobPriority.Bulk).then((release) => {
      third = true;
      return release;
    });
    await settled();
    expect(third).toBe(false);
    first();
    first();
    (await waiting)();
    expect(third).toBe(true);
    expect(budget.freeBytes).toBe(MIB / 2);
    second();
    expect(budget.freeBytes).toBe(MIB);
  });

  it('serves interactive uploads before bulk ones that waited longer', async () => {
    const budget = new UploadBudget(MIB, 10_000);
    const whole = await budget.acquire(MIB, JobPriority.Bulk);
    const order: string[] = [];
    const served = (name: string) => (release: () => void) => {
      order.push(name);
      return release;
    };
    const bulk = budget.acquire(MIB, JobPriority.Bulk).then(served('bulk'));
    const interactive = budget.acquire(MIB, JobPriority.Interactive).then(served('interactive'));
    whole();
    (await interactive)();
    (await bulk)();
    expect(order).toEqual(['interactive', 'bulk']);
  });

  it('refuses with UPLOADS_BUSY (503, Retry-After) once the wait runs out, and keeps nothing', async () => {
    const budget = new UploadBudget(MIB, 20);
    const whole = await budget.acquire(MIB, JobPriority.Bulk);
    const refused = await budget.acquire(1, JobPriority.Interactive).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'UPLOADS_BUSY', status: 503, retryAfterS: 1 });
    whole();
    // The refused wait's turn comes after the release, and is given back at once.
    await settled();
    expect(budget.freeBytes).toBe(MIB);
  });
});
