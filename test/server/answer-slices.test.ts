// A large JSON answer is written in slices with turns of the event loop between them: a GET / that
// arrives while it is being written is answered before it. Order, not time: the GET / is sent at
// the moment the answer's writing starts (seen through JsonWriter.raw('{"data":'), which every
// array answer begins with), over a connection already open.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { encodeNpy } from '../../src/formats/npy.js';
import { JsonWriter } from '../../src/server/body/json-writer.js';
import { testApp, type TestApp } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file sends and parses half-million-element JSON answers over real sockets.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let t: TestApp | undefined;
afterEach(() => vi.restoreAllMocks());
afterAll(async () => {
  agent.destroy();
  await t?.close();
});

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ port, host: '127.0.0.1', path, agent }, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (s += c));
        res.on('end', () => resolve(s));
      })
      .on('error', reject);
  });
}

describe('a large JSON answer', () => {
  it('lets a GET / that comes in while it is written be answered first, and is the same JSON', async () => {
    t = await testApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as AddressInfo).port;
    // The health check's connection is open before the large request starts.
    expect(JSON.parse(await get(port, '/')).status).toBe('healthy');

    const shape = [512, 1024];
    const x = Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(i * 0.001) * 5 + (i % 7) * 0.01);
    const body = Buffer.from(encodeNpy({ dtype: 'float32', shape, data: x }));
    const events: string[] = [];
    let health: Promise<string> | undefined;
    const raw = JsonWriter.prototype.raw;
    vi.spyOn(JsonWriter.prototype, 'raw').mockImplementation(function (this: JsonWriter, text: string) {
      if (text === '{"data":' && health === undefined) {
        health = get(port, '/').then((s) => {
          events.push('GET /');
          return s;
        });
      }
      return raw.call(this, text);
    });
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { port, host: '127.0.0.1', method: 'POST', path: '/instances/default/quantize_dequantize', headers: { 'content-type': 'application/x-npy', 'content-length': body.length } },
        (res) => {
          events.push('large answer');
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(health).toBeDefined();
    expect(JSON.parse(await health!).status).toBe('healthy');
    // The health check's whole answer came before the first byte of the large one.
    expect(events).toEqual(['GET /', 'large answer']);

    vi.restoreAllMocks();
    const same = await t.app.inject({ method: 'POST', url: '/instances/default/quantize_dequantize', headers: { 'content-type': 'application/x-npy' }, payload: body });
    expect(same.statusCode).toBe(200);
    expect(answer).toBe(same.body);
    const parsed = JSON.parse(answer) as { data: number[][]; original_shape: number[] };
    expect(parsed.original_shape).toEqual(shape);
    expect(parsed.data.length).toBe(512);
    expect(parsed.data[0].length).toBe(1024);
  });

  it('stops being written when its client has gone, and the service keeps answering', async () => {
    t ??= await testApp();
    if (!t.app.server.listening) await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as AddressInfo).port;
    const shape = [512, 1024];
    const x = Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.cos(i * 0.001) * 5);
    const body = Buffer.from(encodeNpy({ dtype: 'float32', shape, data: x }));
    let req: http.ClientRequest | undefined;
    let started = 0;
    const raw = JsonWriter.prototype.raw;
    vi.spyOn(JsonWriter.prototype, 'raw').mockImplementation(function (this: JsonWriter, text: string) {
      // The client hangs up as soon as its answer starts being written.
      if (text === '{"data":' && started++ === 0) req?.destroy();
      return raw.call(this, text);
    });
    const finished = vi.spyOn(JsonWriter.prototype, 'finish');
    const closed = new Promise<void>((resolve) => {
      req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/instances/default/quantize_dequantize', headers: { 'content-type': 'application/x-npy', 'content-length': body.length } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end(body);
    });
    await closed;
    // The service answers the next requests, the health check and a whole large answer.
    expect(JSON.parse(await get(port, '/')).status).toBe('healthy');
    const again = await t.app.inject({ method: 'POST', url: '/instances/default/quantize_dequantize', headers: { 'content-type': 'application/x-npy' }, payload: body });
    expect(again.statusCode).toBe(200);
    expect(started).toBe(2);
    // Only the second answer was finished: the first one's writing stopped when its client left.
    expect(finished).toHaveBeenCalledTimes(1);
  });
});

describe('an upload_numpy answer', () => {
  it('lets a GET / that comes in while its error figures are computed be handled first', async () => {
    const u = await testApp();
    try {
      const handled: string[] = [];
      u.app.addHook('onSend', async (request) => {
        handled.push(request.url.split('?')[0]);
      });
      await u.app.listen({ port: 0, host: '127.0.0.1' });
      const port = (u.app.server.address() as AddressInfo).port;
      await get(port, '/');
      handled.length = 0;
      const shape = [256, 1024];
      const x = Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(i * 0.01) * 3);
      const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape, data: x }));
      const boundary = 'answer-slices-boundary';
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.npy"\r\nContent-Type: application/octet-stream\r\n\r\n`),
        npy,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      let health: Promise<string> | undefined;
      // The restoring dequantize comes after the quantize, before the answer's passes over the arrays.
      const { Quantizer } = await import('../../src/engine/quantizer.js');
      const dequantize = Quantizer.prototype.dequantize;
      vi.spyOn(Quantizer.prototype, 'dequantize').mockImplementation(function (this: InstanceType<typeof Quantizer>, ...a: Parameters<typeof dequantize>) {
        health ??= get(port, '/');
        return dequantize.apply(this, a);
      });
      const answer = await u.app.inject({ method: 'POST', url: '/instances/default/upload_numpy?operation=quantize', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: body });
      expect(answer.statusCode).toBe(200);
      expect(answer.json().original_shape).toEqual(shape);
      expect(JSON.parse(await health!).status).toBe('healthy');
      expect(handled).toEqual(['/', '/instances/default/upload_numpy']);
    } finally {
      await u.close();
    }
  });
});
