// The dashboard's instances table at a common laptop width, its unloadable records, and the
// calibration chart's range, observer and count scale, in Chromium against a real service.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SqliteStore } from '../../src/node/store/sqlite-store.js';
import { buildApp } from '../../src/server/app.js';
import { findWebRoot } from '../../src/server/routes/ui.js';
import { CHROMIUM } from '../setup/optional-tools.js';

// Beyond vitest's 5 s default on a 2-core machine: this file drives Chromium, whose own waits go up to 15 s.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const REPO = resolve(__dirname, '../..');
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium)('dashboard views in Chromium at 1400 px', () => {
  let app: FastifyInstance;
  let url: string;
  let dir: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  const post = (path: string, body: unknown) => app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

  beforeAll(async () => {
    if (findWebRoot() === null) {
      const { build } = await import('vite');
      await build({ configFile: join(REPO, 'vite.web.config.ts'), logLevel: 'warn' });
    }
    dir = mkdtempSync(join(tmpdir(), 'quantkit-web-views-'));
    // A record this quantkit cannot load (a quantization type it does not know), stored before the service starts.
    const store = new SqliteStore(dir);
    expect(await store.create('broken', { quantizationType: 'INT9' }, null)).toBe(true);
    await store.close();
    app = await buildApp({ store: new SqliteStore(dir), logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    profile = mkdtempSync(join(tmpdir(), 'quantkit-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1400, height: 900 },
    });
    context.setDefaultTimeout(15_000);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      // The one error the page provokes knowingly: an instance not calibrated yet answers 404.
      if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('the instances table fits: no horizontal scroll, every "Edit config" and "Delete" whole', async () => {
    // Long cells: a per-channel symmetric type / mode, and statistics in the millions.
    expect((await post('/instances/a-rather-long-instance-name.v2', { quantization_type: 'INT16', quantization_mode: 'PER_CHANNEL', symmetric: true, per_channel: true, channel_dim: 0 })).statusCode).toBe(200);
    const data = Array.from({ length: 64 }, (_, r) => Array.from({ length: 1024 }, (_, c) => Math.sin(r * 1024 + c) * 1e4));
    for (let i = 0; i < 20; i++) expect((await post('/instances/a-rather-long-instance-name.v2/quantize', { data })).statusCode).toBe(200);
    await page.goto(`${url}/ui/`);
    const row = page.locator('tr[data-instance="a-rather-long-instance-name.v2"]');
    await expect.poll(() => row.locator('td[data-stat="total_values"]').textContent()).toBe('1,310,720');
    await expect.poll(() => row.locator('td').first().textContent()).toMatch(/INT16 \/ PER_CHANNEL, symmetric, per channel/);
    const wrap = await page.locator('.table-wrap').first().evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth, right: el.getBoundingClientRect().right }));
    expect(wrap.scroll).toBeLessThanOrEqual(wrap.client);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1400);
    for (const name of ['Edit config', 'Delete']) {
      const box = (await row.getByRole('button', { name: new RegExp(`^${name === 'Delete' ? 'Delete' : 'Edit configuration'}`) }).boundingBox())!;
      expect(box.x + box.width, name).toBeLessThanOrEqual(wrap.right);
      // Its label is not cut: the button is as wide as its text needs.
      const fits = await row.getByText(name, { exact: true }).evaluate((b) => b.scrollWidth <= b.clientWidth);
      expect(fits, name).toBe(true);
    }
  });

  it('lists a stored record the service cannot load as unavailable, with why, and deletes it', async () => {
    await page.goto(`${url}/ui/`);
    const row = page.locator('tr[data-instance="broken"]');
    await row.waitFor();
    expect(await row.getAttribute('data-available')).toBe('false');
    expect(await row.locator('td.kind').textContent()).toBe('unavailable');
    const reason = (await row.locator('td[data-reason]').textContent())!;
    const listed = ((await app.inject({ url: '/instances?detailed=true' })).json() as { instance_id: string; detail?: string }[]).find((l) => l.instance_id === 'broken')!;
    expect(reason).toBe(listed.detail);
    expect(reason).toMatch(/cannot be loaded/);
    expect(reason).toMatch(/INT9/);
    // Nothing to edit; it can only be deleted.
    expect(await row.getByRole('button', { name: /Edit configuration/ }).count()).toBe(0);
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Delete instance broken' }).click();
    await row.waitFor({ state: 'detached' });
    expect(((await app.inject({ url: '/instances' })).json() as string[]).includes('broken')).toBe(false);
  });

  /** The calibration view on instance id, once its chart is drawn. */
  async function openCalibration(id: string): Promise<void> {
    await page.goto(`${url}/ui/#/calibration`);
    await page.locator(`#cal-instance option[value="${id}"]`).waitFor({ state: 'attached' });
    await page.locator('#cal-instance').selectOption(id);
    await page.locator('#cal-chart canvas').waitFor();
  }

  it('draws a symmetric instance’s range and clipped tails from its symmetric grid, not from the observed minimum', async () => {
    expect((await post('/instances/sym', { quantization_mode: 'CALIBRATED', symmetric: true })).statusCode).toBe(200);
    // Observed -60..120: a symmetric scheme keeps -120..120.
    const batch = Array.from({ length: 181 }, (_, i) => i - 60);
    const answer = (await post('/instances/sym/calibrate', { data: [batch] })).json() as { min: number; max: number; observed_min: number; observed_max: number };
    expect([answer.observed_min, answer.observed_max]).toEqual([-60, 120]);
    await openCalibration('sym');
    expect(JSON.parse((await page.locator('dd[data-figure="range"]').getAttribute('data-value'))!)).toEqual([-120, 120]);
    // The chart is drawn with that range: its edges and the tails beyond them.
    expect(JSON.parse((await page.locator('#cal-chart').getAttribute('data-range'))!)).toEqual([-120, 120]);
    expect(await page.locator('#cal-chart').getAttribute('aria-label')).toMatch(/range kept \[-120, 120\]/);
  });

  it('chooses another observer for the instance from the page; its next calibration uses it', async () => {
    await openCalibration('sym');
    await expect.poll(() => page.locator('#cal-observer').inputValue()).toBe('');
    await page.getByLabel('observer').selectOption('mse');
    await expect.poll(() => page.locator('.message').first().textContent()).toMatch(/sym now chooses its range with the mse observer/);
    const config = (await app.inject({ url: '/instances/sym/config' })).json() as { observer: unknown; symmetric: boolean; quantization_mode: string };
    expect(config).toMatchObject({ observer: { name: 'mse', options: {} }, symmetric: true, quantization_mode: 'CALIBRATED' });
    await page.getByRole('button', { name: 'Calibrate on sample data' }).click();
    await expect.poll(() => page.locator('dd[data-figure="method"]').textContent()).toMatch(/^mse, /);
    // Opened again, the page shows the instance's observer; back to the config's range settings.
    await openCalibration('sym');
    await expect.poll(() => page.locator('#cal-observer').inputValue()).toBe('mse');
    await page.getByLabel('observer').selectOption('');
    await expect.poll(async () => ((await app.inject({ url: '/instances/sym/config' })).json() as { observer: unknown }).observer).toBeNull();
  });

  it('switches the count axis to a log scale, where the outliers’ bins show', async () => {
    await openCalibration('sym');
    await page.getByRole('button', { name: 'Calibrate on sample data' }).click();
    await expect.poll(() => page.locator('#cal-source').textContent()).toMatch(/^Data: sample data/);
    // Pixels of the bars' colour on the chart's canvas.
    const barPixels = () =>
      page.locator('#cal-chart canvas').evaluate((c: HTMLCanvasElement) => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 0x1f) < 6 && Math.abs(d[i + 1] - 0x5f) < 6 && Math.abs(d[i + 2] - 0xa8) < 6) n++;
        return n;
      });
    expect(await page.locator('#cal-chart').getAttribute('data-count-scale')).toBe('linear');
    const linear = await barPixels();
    await page.getByLabel(/count axis on a log scale/).check();
    await expect.poll(() => page.locator('#cal-chart').getAttribute('data-count-scale')).toBe('log');
    expect(await page.locator('#cal-chart').getAttribute('aria-label')).toMatch(/counts on a log scale/);
    const log = await barPixels();
    // Bins of a handful of values are a pixel high on a linear axis and a third of the chart on a log one.
    expect(log).toBeGreaterThan(1.5 * linear);
  });

  it('logged no page errors', () => {
    expect(errors).toEqual([]);
  });
});
