import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dequantize, fakeQuantize, quantize } from '../../src/core/quantize.js';
import { decodeNpy, encodeNpy } from '../../src/formats/npy.js';
import { SqliteStore } from '../../src/node/store/sqlite-store.js';
import { buildApp } from '../../src/server/app.js';
import { findWebRoot } from '../../src/server/routes/ui.js';
import { formatNumber } from '../../src/web/format-number.js';
import { sampleActivations } from '../../src/web/sample-data.js';
import { CHROMIUM } from '../setup/optional-tools.js';
import { asCliJson, AUTO_PRECISION_REPORT, COMPARE_REPORT } from './report-fixtures.js';

// Beyond vitest's 5 s default on a 2-core machine: this file drives Chromium, whose own waits go up to 15 s.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const REPO = resolve(__dirname, '../..');
const ARTIFACTS = join(REPO, 'test-artifacts', 'web');
// Without it the file skips, and the tests' global setup says so in one line.
const haveChromium = existsSync(CHROMIUM);

interface Running {
  app: FastifyInstance;
  url: string;
  dir: string;
}

async function startService(apiKey?: string): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-web-'));
  const app = await buildApp({ store: new SqliteStore(dir), logger: false, ...(apiKey !== undefined && { apiKey }) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return { app, url: `http://127.0.0.1:${port}`, dir };
}

async function stopService(s: Running | undefined): Promise<void> {
  if (!s) return;
  await s.app.close();
  rmSync(s.dir, { recursive: true, force: true });
}

/**
 * Answers the page asks for knowingly: the 409 of creating an existing instance (provoked on
 * purpose) and the 404 of an instance never calibrated (how the service says so); any other
 * error the browser logs counts.
 */
function expectedFailure(text: string, url: string): boolean {
  return /status of 409/.test(text) || (/status of 404/.test(text) && /\/instances\/[^/]+\/calibration$/.test(url));
}

describe.skipIf(!haveChromium)('dashboard in Chromium', () => {
  let service: Running;
  let keyed: Running;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const errors: string[] = [];

  beforeAll(async () => {
    if (findWebRoot() === null) {
      // `npm test` builds first; a bare `vitest run` on a fresh tree builds the page here.
      const { build } = await import('vite');
      await build({ configFile: join(REPO, 'vite.web.config.ts'), logLevel: 'warn' });
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    [service, keyed] = await Promise.all([startService(), startService('s3cret-key')]);
    profile = mkdtempSync(join(tmpdir(), 'quantkit-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    context.setDefaultTimeout(15_000);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !expectedFailure(m.text(), m.location().url)) errors.push(m.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    await Promise.all([stopService(service), stopService(keyed)]);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('serves the page at /ui and only its own files', async () => {
    const redirect = await service.app.inject({ url: '/ui' });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe('/ui/');
    const html = await service.app.inject({ url: '/ui/' });
    expect(html.headers['content-type']).toMatch(/text\/html/);
    const asset = /src="\/ui\/assets\/([^"]+\.js)"/.exec(html.body)![1];
    expect((await service.app.inject({ url: `/ui/assets/${asset}` })).headers['content-type']).toMatch(/javascript/);
    expect((await service.app.inject({ url: '/ui/assets/..%2F..%2Fpackage.json' })).statusCode).toBe(404);
    expect((await service.app.inject({ url: '/ui/assets/missing.js' })).statusCode).toBe(404);
    // With an API key the page itself loads (it asks for the key); the API stays closed.
    expect((await keyed.app.inject({ url: '/ui/' })).statusCode).toBe(200);
    expect((await keyed.app.inject({ url: '/instances' })).statusCode).toBe(401);
  });

  it('Instances: lists with live statistics, validates the form as the API does, creates, shows the API detail, edits, deletes', async () => {
    await page.goto(`${service.url}/ui/`);
    await page.locator('tr[data-instance="default"]').waitFor();
    await page.getByLabel('instance id').fill('calib8');
    await page.getByText('Configuration (defaults unless changed)').click();
    // Checked in the page before any request, with the engine's schema and wording (the service's too).
    await page.locator('#create-num_bits').fill('99');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.locator('#create-num_bits-error').textContent()).toBe('num bits: expected an integer in 2..16');
    // A rule across fields is the field's too: 12 bits is in 2..16 but more than INT8 holds.
    await page.locator('#create-num_bits').fill('12');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.locator('#create-num_bits-error').textContent()).toBe('num bits: expected at most 8 bits for INT8');
    expect(await page.locator('#create-num_bits').getAttribute('aria-invalid')).toBe('true');
    expect((await service.app.inject({ url: '/instances' })).json()).toEqual(['default']);
    await page.locator('#create-num_bits').fill('8');
    await page.locator('#create-quantization_mode').selectOption('CALIBRATED');
    await page.locator('#create-use_percentile').check();
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('tr[data-instance="calib8"]').waitFor();
    // Only the changed fields were sent: the others keep the service's defaults.
    expect((await service.app.inject({ url: '/instances/calib8/config' })).json()).toMatchObject({ quantization_mode: 'CALIBRATED', use_percentile: true, enable_cache: true, error_on_nan: true, max_percentile: 99.9 });
    await expect.poll(() => page.locator('tr[data-instance="calib8"] td').first().textContent()).toBe('INT8 / CALIBRATED');
    // The service's own 4xx detail: the id exists.
    await page.getByLabel('instance id').fill('calib8');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/409.*calib8/);

    // Statistics refresh while the page is open.
    await service.app.inject({ method: 'POST', url: '/instances/default/quantize', payload: { data: [[1, 2, 3]] } });
    await expect.poll(() => page.locator('tr[data-instance="default"] td[data-stat="quantize_calls"]').getAttribute('data-value'), { timeout: 10_000 }).toBe('1');

    await service.app.inject({ method: 'POST', url: '/instances/scratch', payload: {} });
    await page.locator('tr[data-instance="scratch"]').waitFor();
    await page.getByRole('button', { name: 'Edit configuration of scratch' }).click();
    await page.locator('#edit-quantization_type').selectOption('INT4');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    // An untouched num_bits follows the new type (4), as the service's own rule for a field left out.
    await expect.poll(async () => (await service.app.inject({ url: '/instances/scratch/config' })).json()).toMatchObject({ quantization_type: 'INT4', num_bits: 4 });
    // The engine's cross-field rule, checked in the page with the service's wording.
    await page.locator('#edit-use_percentile').check();
    await page.locator('#edit-min_percentile').fill('90');
    await page.locator('#edit-max_percentile').fill('10');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await expect.poll(() => page.locator('section[aria-labelledby="edit-heading"] [role="alert"]').textContent()).toMatch(/minPercentile < maxPercentile/);
    await page.locator('#edit-min_percentile').fill('0.1');
    await page.locator('#edit-max_percentile').fill('99.9');
    await page.screenshot({ path: join(ARTIFACTS, 'instances.png'), fullPage: true });
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete instance scratch' }).click();
    await page.locator('tr[data-instance="scratch"]').waitFor({ state: 'detached' });
    expect((await service.app.inject({ url: '/instances' })).json().sort()).toEqual(['calib8', 'default']);
  });

  it('Calibration: calibrates, shows the histogram with range, tails and grid, and the route figures', async () => {
    await page.goto(`${service.url}/ui/#/calibration`);
    await page.locator('#cal-instance option[value="calib8"]').waitFor({ state: 'attached' });
    await page.getByLabel('instance').selectOption('calib8');
    await page.getByRole('button', { name: 'Calibrate on sample data' }).click();
    await page.locator('#cal-chart canvas').waitFor();
    const params = (await service.app.inject({ url: '/instances/calib8/parameters' })).json();
    const calibrated = params.instance.calibrated.params;
    expect(Number(await page.locator('dd[data-figure="scale"]').getAttribute('data-value'))).toBe(calibrated.scale[0]);
    expect(Number(await page.locator('dd[data-figure="zero_point"]').getAttribute('data-value'))).toBe(calibrated.zero_point[0]);
    expect(await page.locator('dd[data-figure="mse"]').getAttribute('data-value')).not.toBeNull();
    expect(await page.locator('#cal-chart').getAttribute('aria-label')).toMatch(/Histogram of the calibration data/);
    await page.locator('#cal-chart').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'calibration.png'), fullPage: true });
    if (process.env.QUANTKIT_UPDATE_DOCS_SCREENSHOT === '1') await page.screenshot({ path: join(REPO, 'docs', 'dashboard.png'), fullPage: true });
  });

  it('Calibration: a calibration made through the HTTP API shows on opening the page in a new tab, histogram and figures as the API answered', async () => {
    const post = (path: string, body: unknown) => fetch(service.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/instances/viaapi', { quantization_mode: 'CALIBRATED', use_percentile: true, min_percentile: 0.5, max_percentile: 99.5 })).status).toBe(200);
    // A new tab has its own, empty sessionStorage: what it shows can only come from the service.
    const tab = await context.newPage();
    tab.on('pageerror', (e) => errors.push(String(e)));
    tab.on('console', (m) => {
      if (m.type() === 'error' && !expectedFailure(m.text(), m.location().url)) errors.push(m.text());
    });
    try {
      await tab.goto(`${service.url}/ui/#/calibration`);
      await tab.locator('#cal-instance option[value="viaapi"]').waitFor({ state: 'attached' });
      await tab.locator('#cal-instance').selectOption('viaapi');
      await expect.poll(() => tab.locator('#cal-none').textContent()).toMatch(/viaapi has not been calibrated yet/);
      expect(await tab.locator('#cal-result-heading').isVisible()).toBe(false);

      const { data: x } = sampleActivations(32, 64, 5);
      const rows = Array.from({ length: 32 }, (_, b) => [Array.from(x.subarray(b * 64, (b + 1) * 64))]);
      const res = await post('/instances/viaapi/calibrate', { data: rows });
      expect(res.status).toBe(200);
      const answer = (await res.json()) as {
        scale: number;
        zero_point: number;
        min: number;
        max: number;
        mse: number;
        sqnr_db: number;
        clipped_fraction: number;
        data_histogram: { edges: number[]; counts: number[] };
      };

      await tab.reload();
      await tab.locator('#cal-instance option[value="viaapi"]').waitFor({ state: 'attached' });
      await tab.locator('#cal-instance').selectOption('viaapi');
      await tab.locator('#cal-chart canvas').waitFor();
      const figure = (key: string) => tab.locator(`dd[data-figure="${key}"]`).getAttribute('data-value');
      expect(Number(await figure('scale'))).toBe(answer.scale);
      expect(Number(await figure('zero_point'))).toBe(answer.zero_point);
      expect(Number(await figure('mse'))).toBe(answer.mse);
      expect(Number(await figure('sqnr_db'))).toBe(answer.sqnr_db);
      expect(Number(await figure('clipped'))).toBe(answer.clipped_fraction);
      expect(JSON.parse((await figure('range'))!)).toEqual([answer.min, answer.max]);
      expect(await tab.locator('dd[data-figure="scale"]').textContent()).toBe(formatNumber(answer.scale, 6));
      // The drawn histogram is the service's: every bin's count, the clipped tails beyond the range included.
      const counts = await tab.locator('#cal-bins td.num').evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-value'))));
      expect(counts).toEqual(answer.data_histogram.counts);
      expect(counts.length).toBe(128);
      const { edges } = answer.data_histogram;
      expect(counts.filter((_, i) => edges[i + 1] < answer.min || edges[i] > answer.max).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(await tab.locator('#cal-chart').getAttribute('aria-label')).toMatch(/Histogram of the calibration data/);
      expect(await tab.locator('#cal-source').textContent()).toMatch(/^Data: 2048 values; calibrated /);

      // The page's own button still calibrates, and the service keeps that one as the last.
      await tab.getByRole('button', { name: 'Calibrate on sample data' }).click();
      await expect.poll(() => tab.locator('#cal-source').textContent()).toMatch(/^Data: sample data/);
      const last = (await (await fetch(`${service.url}/instances/viaapi/calibration`)).json()) as { scale: number; count: number };
      expect(last.count).toBe(64 * 256);
      expect(Number(await figure('scale'))).toBe(last.scale);
      await tab.locator('#cal-chart').scrollIntoViewIfNeeded();
      await tab.screenshot({ path: join(ARTIFACTS, 'calibration-from-api.png'), fullPage: true });
    } finally {
      await tab.close();
    }
  });

  it('Try it: a .npy is priced in the page by the core kernels, figures equal the library’s, and the codes download', async () => {
    const { data: x, shape } = sampleActivations(32, 48, 11);
    const file = join(profile, 'acts.npy');
    writeFileSync(file, encodeNpy({ dtype: 'float32', shape, data: x }));
    await page.goto(`${service.url}/ui/#/try`);
    await page.locator('#try-instance option[value="calib8"]').waitFor({ state: 'attached' });
    await page.locator('#try-instance').selectOption('calib8');
    await page.locator('#try-file').setInputFiles(file);
    await page.locator('#try-costs[data-ready="true"]').waitFor();
    expect(await page.locator('#try-kernels').textContent()).toMatch(/kernels “wasm-simd[^”]*”/);

    // The library's own figure: core fakeQuantize in Node, and the error sum over it.
    const restored = fakeQuantize(x, shape, { dtype: 'int8' }).values;
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += (x[i] - restored[i]) ** 2;
    const cell = page.locator('td[data-metric="mse"][data-precision="int8"]');
    expect(Number(await cell.getAttribute('data-value'))).toBe(sum / x.length);
    expect(await cell.textContent()).toBe(formatNumber(sum / x.length, 5));
    // The instance row runs the engine with calib8's config and calibrated parameters: the service's upload_numpy agrees.
    const form = new FormData();
    form.append('file', new Blob([readFileSync(file)]), 'acts.npy');
    const res = await fetch(`${service.url}/instances/calib8/upload_numpy?operation=quantize_dequantize`, { method: 'POST', body: form });
    const served = (await res.json()) as { mse: number; max_abs_error: number };
    const own = page.locator('td[data-metric="mse"][data-precision^="instance calib8"]');
    expect(Number(await own.getAttribute('data-value'))).toBe(served.mse);
    expect(Number(await page.locator('td[data-metric="max_abs_error"][data-precision^="instance calib8"]').getAttribute('data-value'))).toBe(served.max_abs_error);

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('tr[data-precision="int4"] a').click()]);
    expect(download.suggestedFilename()).toBe('acts_int4.npy');
    const saved = decodeNpy(readFileSync((await download.path())!));
    const q = quantize(x, shape, { dtype: 'int4' });
    expect(saved.shape).toEqual(shape);
    expect(Array.from(saved.data as Int8Array)).toEqual(Array.from(q.codes));
    expect(dequantize(saved.data as Int8Array, shape, q.params).length).toBe(x.length);
    await page.screenshot({ path: join(ARTIFACTS, 'try-it.png'), fullPage: true });
  });

  it('ONNX reports: a compare report as a sorted bar chart and table', async () => {
    const file = join(profile, 'compare.json');
    writeFileSync(file, asCliJson(COMPARE_REPORT));
    await page.goto(`${service.url}/ui/#/onnx`);
    await page.getByLabel('report (.json)').setInputFiles(file);
    await page.locator('#onnx-chart canvas').waitFor();
    expect(await page.locator('#onnx-table tbody th').allTextContents()).toEqual(['conv2', 'conv1', 'fc1', 'fc2']);
    expect(await page.locator('#onnx-summary').textContent()).toMatch(/a compare report, 4 layers, overall error 0\.0123/);
    await page.getByLabel('sort and draw by').selectOption('sqnrDb');
    expect(await page.locator('#onnx-table tbody tr:first-child td[data-metric="sqnrDb"]').textContent()).toBe('30.1');
    await page.screenshot({ path: join(ARTIFACTS, 'onnx-report.png'), fullPage: true });
    // An automatic-precision report: bars coloured by the chosen precision, the counts listed.
    const auto = join(profile, 'auto.json');
    writeFileSync(auto, asCliJson(AUTO_PRECISION_REPORT));
    await page.getByLabel('report (.json)').setInputFiles(auto);
    await expect.poll(() => page.locator('#onnx-precisions').textContent()).toBe('int4: 1 layerint8: 1 layerfloat: 1 layer');
    // Drawn by int4 alone first (error@int4 sorts before error@int8 when the report lists no precisions); conv1 has no int4 figure.
    expect(await page.locator('#onnx-table tbody th').allTextContents()).toEqual(['fc2', 'fc1', 'conv1']);
    await page.screenshot({ path: join(ARTIFACTS, 'onnx-auto-precision.png'), fullPage: true });
    // A file that is not a report says why, in an alert.
    const bad = join(profile, 'not-a-report.json');
    writeFileSync(bad, '{"model": "m.onnx"}');
    await page.getByLabel('report (.json)').setInputFiles(bad);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/per-layer figures.*model/);
  });

  it('asks for the API key on a 401 and keeps it in session storage only', async () => {
    const p = await context.newPage();
    await p.goto(`${keyed.url}/ui/`);
    const dialog = p.getByRole('dialog', { name: 'API key' });
    await dialog.waitFor();
    await p.screenshot({ path: join(ARTIFACTS, 'api-key.png') });
    await dialog.getByLabel('API key').fill('s3cret-key');
    await dialog.getByRole('button', { name: 'Use key' }).click();
    await p.locator('tr[data-instance="default"]').waitFor();
    expect(await p.evaluate(() => [sessionStorage.getItem('quantkit.apiKey'), localStorage.length])).toEqual(['s3cret-key', 0]);
    await p.close();
  });

  it('logged no page errors', () => {
    expect(errors).toEqual([]);
  });
});
