import { expect } from 'vitest';

/**
 * X-RateLimit-Remaining of GET /v1/predictions through nginx at `base`: plain, then with forged
 * X-Forwarded-For and X-Real-IP headers, then plain again. The limit must be far from reached.
 */
export async function remainingWithForgedAddresses(base: string): Promise<number[]> {
  const remaining = async (headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/v1/predictions?limit=1`, { headers });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    return Number(res.headers.get('x-ratelimit-remaining'));
  };
  const counts = [await remaining()];
  for (let i = 1; i <= 3; i++) {
    counts.push(await remaining({ 'x-forwarded-for': `203.0.113.${i}` }));
    counts.push(await remaining({ 'x-real-ip': `198.51.100.${i}`, 'x-forwarded-for': '::1' }));
  }
  counts.push(await remaining());
  return counts;
}

/** One counter behind every answer: each has less left than the one before. */
export function expectOneCounter(counts: number[]): void {
  for (let i = 1; i < counts.length; i++) {
    expect(counts[i], `${counts}`).toBeLessThan(counts[i - 1] ?? 0);
  }
}
