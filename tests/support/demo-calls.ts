import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { IMAGES_DIR } from './shared-files.js';

interface Answer {
  status: string;
  predictions?: { index: number; label: string }[];
}

/** The original service's calls, as its users make them: POST /predict with `image`, then GET /. */
export async function expectDemoCalls(base: string): Promise<void> {
  const form = new FormData();
  form.append('image', new Blob([readFileSync(join(IMAGES_DIR, 'cat.png'))]), 'cat.png');
  const res = await fetch(`${base}/predict`, { method: 'POST', body: form });
  expect(res.status).toBe(200);
  const answer = (await res.json()) as Answer;
  expect(answer.status).toBe('completed');
  expect(answer.predictions?.[0]).toMatchObject({ index: 286, label: 'Egyptian cat' });
  const page = await fetch(`${base}/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('Egyptian cat');
}
