import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/node/store/sqlite-store.js';
import { buildApp } from '../../src/server/app.js';
import { findWebRoot } from '../../src/server/routes/ui.js';
import { CHROMIUM } from '../setup/optional-tools.js';

/**
 * The attacks of a web page on a service without an API key, in a real browser: a page of another
 * origin posting a multipart upload_numpy (a "simple" request, sent without a preflight), and a
 * page reaching the service under its own name by DNS rebinding (Chromium's host resolver maps
 * the name to 127.0.0.1). The service's own page at /ui keeps working.
 */

const REPO = resolve(__dirname, '../..');
const haveChromium = existsSync(CHROMIUM);
const REBOUND = 'rebind.attacker.test';

/** The page another site serves: it fires its requests at the service and reports what it could see. */
const ATTACK_PAGE = `<!doctype html><title>cat pictures</title><script>
async function attack(service) {
  const npy = new Uint8Array([0x93,78,85,77,80,89,1,0,118,0,...new TextEncoder().encode("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".padEnd(117, ' ') + '\\n'),0,0,128,63,0,0,0,64]);
  const form = new FormData();
  form.append('file', new Blob([npy]), 'x.npy');
  const out = {};
  // no-cors: the answer is opaque, but the request goes out and the server acts on it.
  await fetch(service + '/instances/default/upload_numpy?operation=quantize', { method: 'POST', mode: 'no-cors', body: form }).then(() => (out.upload = 'sent'), (e) => (out.upload = String(e)));
  await fetch(service + '/instances/made-by-attacker', { method: 'POST', mode: 'no-cors', body: new URLSearchParams({ a: '1' }) }).then(() => (out.create = 'sent'), (e) => (out.create = String(e)));
  // A CORS read: refused by the browser without CORS headers.
  out.read = await fetch(service + '/instances').then((r) => r.status, (e) => 'blocked');
  return out;
}
</script>`;

describe.skipIf(!haveChromium)('browser-borne attacks on a service without an API key (Chromium)', () => {
  let app: FastifyInstance;
  let dir: string;
  let service: string;
  let port: number;
  let evil: Server;
  let evilUrl: string;
  let browser: Browser;
  let page: Page;

  const quantizeCalls = async () => (await app.inject({ url: '/instances/default/stats' })).json().quantize_calls as number;

  beforeAll(async () => {
    if (findWebRoot() === null) {
      const { build } = await import('vite');
      await build({ configFile: join(REPO, 'vite.web.config.ts'), logLevel: 'warn' });
    }
    dir = mkdtempSync(join(tmpdir(), 'quantkit-attack-'));
    app = await buildApp({ store: new SqliteStore(dir), logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
    service = `http://127.0.0.1:${port}`;
    evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(ATTACK_PAGE));
    await new Promise<void>((ok) => evil.listen(0, '127.0.0.1', ok));
    evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', `--host-resolver-rules=MAP ${REBOUND} 127.0.0.1`],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((ok) => evil?.close(ok));
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a page of another origin cannot change an instance with a multipart upload or a form post', async () => {
    await page.goto(evilUrl);
    const before = await quantizeCalls();
    const out = await page.evaluate((s) => (window as unknown as { attack(s: string): Promise<Record<string, unknown>> }).attack(s), service);
    expect(out).toEqual({ upload: 'sent', create: 'sent', read: 'blocked' });
    expect(await quantizeCalls()).toBe(before);
    expect((await app.inject({ url: '/instances' })).json()).toEqual(['default']);
  });

  it('a page under a rebound name gets 421 for the page and for every call it makes', async () => {
    const nav = await page.goto(`http://${REBOUND}:${port}/ui/`);
    expect(nav?.status()).toBe(421);
    const before = await quantizeCalls();
    // Same-origin to the browser now, so it would read the answers and send anything.
    const statuses = await page.evaluate(async () => {
      const read = await fetch('/instances/default/parameters');
      const write = await fetch('/instances/default/quantize', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"data": [[1, 2]]}' });
      return [read.status, write.status, (await read.json()).detail as string];
    });
    expect(statuses.slice(0, 2)).toEqual([421, 421]);
    expect(statuses[2]).toMatch(/not served here/);
    expect(await quantizeCalls()).toBe(before);
  });

  it("the service's own page, at 127.0.0.1 or localhost, reads and writes", async () => {
    for (const origin of [service, `http://localhost:${port}`]) {
      await page.goto(`${origin}/ui/`);
      await page.locator('tr[data-instance="default"]').waitFor();
      const before = await quantizeCalls();
      const statuses = await page.evaluate(async () => {
        const npy = new Uint8Array([0x93, 78, 85, 77, 80, 89, 1, 0, 118, 0, ...new TextEncoder().encode("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".padEnd(117, ' ') + '\n'), 0, 0, 128, 63, 0, 0, 0, 64]);
        const form = new FormData();
        form.append('file', new Blob([npy]), 'x.npy');
        const upload = await fetch('/instances/default/upload_numpy?operation=quantize', { method: 'POST', body: form });
        const create = await fetch('/instances/page-made', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        const remove = await fetch('/instances/page-made', { method: 'DELETE' });
        return [upload.status, create.status, remove.status];
      });
      expect(statuses).toEqual([200, 200, 200]);
      expect(await quantizeCalls()).toBe(before + 1);
    }
  });
});
