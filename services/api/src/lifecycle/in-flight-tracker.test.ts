import { describe, expect, it } from 'vitest';
import { InFlightTracker } from './in-flight-tracker.js';

describe('InFlightTracker', () => {
  it('is drained at once when nothing runs', async () => {
    expect(await new InFlightTracker().drained(10)).toBe(true);
  });

  it('drains when the last piece of work ends, whether it resolves or throws', async () => {
    const tracker = new InFlightTracker();
    let finish: () => void = () => {};
    const slow = tracker.track(() => new Promise<void>((r) => (finish = r)));
    const failing = tracker.track(async () => {
      throw new Error('boom');
    });
    await expect(failing).rejects.toThrow('boom');
    expect(tracker.size).toBe(1);
    const drained = tracker.drained(5000);
    setTimeout(finish, 20);
    expect(await drained).toBe(true);
    await slow;
    expect(tracker.size).toBe(0);
  });

  it('gives up waiting after the timeout', async () => {
    const tracker = new InFlightTracker();
    void tracker.track(() => new Promise(() => {}));
    expect(await tracker.drained(20)).toBe(false);
  });
});
