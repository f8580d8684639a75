import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImagerecClient } from '@imagerec/client';
import { createRedis, QueueName } from '@imagerec/shared';
import { Queue } from 'bullmq';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../services/api/src/app.js';
import { noisePng } from '../support/images.js';
import { IMAGES_DIR } from '../support/shared-files.js';
import { NGINX_URL, OUTPUT_DIR } from '../support/stack.js';
import { stackConfig } from '../support/test-config.js';

// Debian's chromium; a Playwright browser download is never needed (nor possible here).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const SCREENSHOTS = join(OUTPUT_DIR, 'screenshots');

/**
 * What the page.evaluate callbacks use of the browser's globals (they run there; this
 * project compiles against Node's types, not the DOM's).
 */
interface Box {
  getBoundingClientRect(): { right: number; width: number };
}
interface Cookies {
  document: { cookie: string };
}
interface BrowserWindow {
  innerWidth: number;
  loadedOnce?: boolean;
  document: {
    documentElement: { scrollWidth: number };
    querySelectorAll(selector: string): ArrayLike<Box>;
  };
}

/** Nothing wider than the viewport: the page never scrolls sideways. */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const w = globalThis as unknown as BrowserWindow;
    return {
      scrollWidth: w.document.documentElement.scrollWidth,
      viewport: w.innerWidth,
      widest: Math.max(
        ...Array.from(w.document.querySelectorAll('body *')).map(
          (el) => el.getBoundingClientRect().right,
        ),
      ),
    };
  });

describe('the history page in a real browser (Chromium)', () => {
  let browser: Browser;
  let page: Page;
  let dir: string;
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6390');
  const queue = new Queue(process.env.QUEUE_NAME ?? QueueName.Classify, { connection: redis });

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    dir = mkdtempSync(join(tmpdir(), 'history-page-'));
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await queue.close();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads two files from the form, shows them pending, then their results without a reload', async () => {
    // Names of their own, to find their rows; the noise image cannot come from the cache.
    const catFile = join(dir, `cat-${randomUUID().slice(0, 8)}.png`);
    copyFileSync(join(IMAGES_DIR, 'cat.png'), catFile);
    const noiseFile = join(dir, `noise-${randomUUID().slice(0, 8)}.png`);
    writeFileSync(noiseFile, await noisePng(48));

    const row = (file: string) =>
      page.locator('.item', { hasText: file.split('/').pop() as string });
    await page.goto(`${NGINX_URL}/`);
    // While the queue is paused no worker takes a job: the noise image must show as pending.
    await queue.pause();
    try {
      await page.setInputFiles('input[type=file][name=image]', [catFile, noiseFile]);
      await Promise.all([page.waitForURL(/[?&]pending=/), page.click('button[type=submit]')]);
      // Marks this document: a reload would lose it.
      await page.evaluate(() => {
        (globalThis as unknown as BrowserWindow).loadedOnce = true;
      });
      expect(await row(noiseFile).getAttribute('data-status')).toBe('queued');
      expect(await row(noiseFile).locator('.pending').textContent()).toBe('Pending…');
      expect(await row(noiseFile).locator('img.thumb').count()).toBe(1);
    } finally {
      await queue.resume();
    }

    for (const file of [catFile, noiseFile]) {
      await expect.poll(() => row(file).count(), { timeout: 10_000 }).toBe(1);
      await expect
        .poll(() => row(file).getAttribute('data-status'), { timeout: 60_000 })
        .toBe('completed');
    }
    const cat = row(catFile);
    expect(await cat.locator('.top .label').textContent()).toBe('Egyptian cat');
    expect(Number(await cat.locator('meter').getAttribute('value'))).toBeGreaterThan(0.3);
    const thumb = cat.locator('img.thumb');
    expect(
      await thumb.evaluate(
        (img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth,
      ),
    ).toBeGreaterThan(0);
    // The same markup whether the server rendered the row or the script filled it in.
    for (const file of [catFile, noiseFile]) {
      expect(await row(file).locator('.top .label').textContent()).toBeTruthy();
      expect(await row(file).locator('.top .bar meter').count()).toBe(1);
      expect(await row(file).locator('.top .bar .score').textContent()).toMatch(/^\d+\.\d%$/);
    }
    expect(await page.evaluate(() => (globalThis as unknown as BrowserWindow).loadedOnce)).toBe(
      true,
    );
  });

  for (const width of [1280, 390]) {
    it(`fits ${width} px without horizontal scrolling, thumbnails small`, async () => {
      await page.setViewportSize({ width, height: 844 });
      await page.goto(`${NGINX_URL}/`);
      const { scrollWidth, viewport, widest } = await overflow(page);
      expect(viewport).toBe(width);
      expect(scrollWidth).toBeLessThanOrEqual(width);
      expect(widest).toBeLessThanOrEqual(width);
      const thumbWidths = await page
        .locator('img.thumb')
        .evaluateAll((imgs: Box[]) => imgs.map((img) => img.getBoundingClientRect().width));
      expect(thumbWidths.length).toBeGreaterThan(0);
      for (const w of thumbWidths) expect(w).toBeLessThanOrEqual(80);
      const file = join(SCREENSHOTS, `history-${width}.png`);
      await page.screenshot({ path: file });
      expect(statSync(file).size).toBeGreaterThan(1000);
    });
  }

  it('pages back with the Older link', async () => {
    // A newest record of its own: the jobs of one upload share their acceptance time.
    const res = await new ImagerecClient({ baseUrl: NGINX_URL }).predict(
      { filename: 'newest.png', bytes: await noisePng(16) },
      { timeoutMs: 30_000 },
    );
    expect(res.status).toBe(200);
    await page.goto(`${NGINX_URL}/?limit=1`);
    const first = await page.locator('.item').first().getAttribute('data-job-id');
    await Promise.all([page.waitForURL(/before=/), page.click('a[rel=next]')]);
    const older = await page.locator('.item').first().getAttribute('data-job-id');
    expect(older).toBeTruthy();
    expect(older).not.toBe(first);
  });

  it('renders the queue board under its CSP: the classify queue listed, only the outside font refused', async () => {
    const board = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const refused: string[] = [];
    board.on('console', (message) => {
      if (/Content Security Policy/.test(message.text())) refused.push(message.text());
    });
    try {
      const res = await board.goto(`${NGINX_URL}/admin/queues`, { waitUntil: 'networkidle' });
      expect(res?.status()).toBe(200);
      await expect
        .poll(() => board.locator('a', { hasText: QueueName.Classify }).count(), {
          timeout: 10_000,
        })
        .toBeGreaterThan(0);
      await board.screenshot({ path: join(SCREENSHOTS, 'queue-board.png') });
      // The board links Google's web fonts; the CSP keeps the page from calling outside.
      expect(refused.filter((text) => !text.includes('https://fonts.googleapis.com/'))).toEqual([]);
    } finally {
      await board.close();
    }
  });
});

describe('the history page in Chromium with API_KEYS set: sign in, upload, sign out', () => {
  const KEY = `browser-${randomUUID()}`;
  let browser: Browser;
  let api: Awaited<ReturnType<typeof buildApp>>;
  let queue: Queue;
  let base: string;
  let dir: string;

  beforeAll(async () => {
    // The stack runs without keys: one API process of this test's own, with a key, on the
    // stack's Redis, database and queue, so the stack's workers classify what it accepts.
    api = await buildApp(
      stackConfig({ API_KEYS: `browser:${KEY}`, LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0' }),
    );
    await api.listen({ host: '127.0.0.1', port: 0 });
    queue = new Queue(api.config.queue.name, { connection: createRedis(api.config.redis.url) });
    const address = api.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    dir = mkdtempSync(join(tmpdir(), 'history-signed-in-'));
  });

  afterAll(async () => {
    await browser?.close();
    await queue?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in with the key, uploads from the form, sees the result, signs out', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      // Not signed in: the page sends the browser to the form; a wrong key is refused there.
      await page.goto(`${base}/`);
      expect(new URL(page.url()).pathname).toBe('/signin');
      await page.fill('input[name=key]', 'not-the-key-0123456789');
      await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
      expect(await page.locator('[role=alert]').textContent()).toContain('not a valid API key');

      await page.fill('input[name=key]', KEY);
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/'),
        page.click('button[type=submit]'),
      ]);
      const session = (await context.cookies()).find((c) => c.name === 'imagerec_session');
      expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
      // HttpOnly: the page's own script cannot read it.
      expect(await page.evaluate(() => (globalThis as unknown as Cookies).document.cookie)).toBe(
        '',
      );

      // The upload form posts with the session and its CSRF token; while the queue is paused
      // the row shows as pending, so the script must long-poll GET /v1/jobs/:id with it.
      const file = join(dir, `signed-in-${randomUUID().slice(0, 8)}.png`);
      writeFileSync(file, await noisePng(40));
      const row = page.locator('.item', { hasText: file.split('/').pop() as string });
      await page.setInputFiles('input[type=file][name=image]', [file]);
      await queue.pause();
      try {
        await Promise.all([
          page.waitForURL(/[?&]pending=/),
          page.click('form[action="/predict"] button'),
        ]);
        expect(await row.getAttribute('data-status')).toBe('queued');
      } finally {
        await queue.resume();
      }
      await expect
        .poll(() => row.getAttribute('data-status'), { timeout: 60_000 })
        .toBe('completed');
      expect(await row.locator('.top .label').textContent()).toBeTruthy();

      await Promise.all([
        page.waitForURL((url) => url.pathname === '/signin'),
        page.click('form[action="/signout"] button'),
      ]);
      expect((await context.cookies()).map((c) => c.name)).not.toContain('imagerec_session');
      await page.goto(`${base}/`);
      expect(new URL(page.url()).pathname).toBe('/signin');
    } finally {
      await context.close();
    }
  });
});
