#!/usr/bin/env node
// Benchmarks the Quantizer API service over loopback: one server process (the built CLI's
// `serve`), autocannon for the small request's throughput and latency, timed round trips for the
// 2048x2048 JSON and .npy requests. Bounded: fixed durations and request counts. `--json` prints
// one JSON object.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { npyBody, startServer } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const asJson = args.includes('--json');
const quick = args.includes('--quick');
const log = (...a) => {
  if (!asJson) console.log(...a);
};

const SMALL_SECONDS = quick ? 2 : 8;
const BIG_ROUNDS = quick ? 2 : 7;
const SIDE = 2048;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function smallQuantize(url) {
  const body = JSON.stringify({ data: [[1.2, 3.4, 5.6], [7.8, 9.0, 2.1]], validate: true });
  // Warm the JIT before measuring.
  await autocannon({ url: `${url}/instances/default/quantize`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 10, duration: 1 });
  const r = await autocannon({
    url: `${url}/instances/default/quantize`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: 16,
    pipelining: 1,
    duration: SMALL_SECONDS,
  });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`small quantize: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return { requests_per_s: r.requests.average, p50_ms: r.latency.p50, p99_ms: r.latency.p99, requests: r.requests.total, seconds: SMALL_SECONDS, connections: 16 };
}

function bigData() {
  // Values as a Python client would send them: float32 values printed by json.dumps (float64 repr).
  const x = new Float32Array(SIDE * SIDE);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s / 2 ** 32) * 8 - 4;
  }
  return x;
}

function jsonBody(x) {
  const rows = [];
  for (let r = 0; r < SIDE; r++) rows.push('[' + Array.from(x.subarray(r * SIDE, (r + 1) * SIDE)).join(',') + ']');
  return Buffer.from('{"data":[' + rows.join(',') + '],"validate":true}');
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/**
 * One POST as a lean client makes it: the body is built once by the caller and written as is; the
 * answer is collected into one buffer sized by its Content-Length. Node's http rather than fetch:
 * undici's per-request work for an 80 MB body would be measured as the server's time, since client
 * and server share the cores.
 */
function post(url, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': body.length } }, (res) => {
      const length = Number(res.headers['content-length']);
      const out = Number.isSafeInteger(length) ? Buffer.allocUnsafe(length) : undefined;
      const chunks = [];
      let n = 0;
      res.on('data', (c) => {
        if (out && n + c.length <= out.length) c.copy(out, n);
        else chunks.push(c);
        n += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode, bytes: out && chunks.length === 0 ? out.subarray(0, n) : Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function roundTrips(url, body, headers, check) {
  const times = [];
  for (let i = 0; i < BIG_ROUNDS + 1; i++) {
    const t0 = performance.now();
    const r = await post(`${url}/instances/default/quantize`, body, headers);
    const t = performance.now() - t0;
    if (r.status !== 200) throw new Error(`status ${r.status}: ${r.bytes.subarray(0, 300).toString()}`);
    check(r.bytes);
    if (i > 0) times.push(t); // the first is warm-up
  }
  return times;
}

const dataDir = mkdtempSync(join(tmpdir(), 'quantkit-bench-'));
const { child, url } = await startServer(join(here, '../dist/cli/main.js'), dataDir);
try {
  log(`server at ${url}`);
  const small = await smallQuantize(url);
  log(`2x3 quantize: ${small.requests_per_s.toFixed(0)} req/s, p50 ${small.p50_ms} ms, p99 ${small.p99_ms} ms (${small.connections} connections, ${small.seconds} s, target >= 5000 req/s, p99 < 20 ms)`);

  const x = bigData();
  const jb = jsonBody(x);
  let answerBytes = 0;
  const jsonTimes = await roundTrips(url, jb, { 'content-type': 'application/json' }, (b) => {
    answerBytes = b.length;
  });
  const parseStart = performance.now();
  const parsed = JSON.parse((await post(`${url}/instances/default/quantize`, jb, { 'content-type': 'application/json' })).bytes.toString());
  const clientParseMs = performance.now() - parseStart;
  if (parsed.original_shape[0] !== SIDE) throw new Error('bad JSON answer');
  const jsonMedianS = median(jsonTimes) / 1000;
  const jsonBestMs = Math.min(...jsonTimes);
  log(`2048x2048 quantize as JSON: median ${(jsonMedianS * 1000).toFixed(0)} ms (best ${jsonBestMs.toFixed(0)} ms) per round trip (request ${(jb.length / 2 ** 20).toFixed(1)} MiB, answer ${(answerBytes / 2 ** 20).toFixed(1)} MiB; target <= 500 ms); with the client's JSON.parse ${clientParseMs.toFixed(0)} ms`);

  const nb = npyBody(x, 'float32', [SIDE, SIDE]);
  const npyTimes = await roundTrips(url, nb, { 'content-type': 'application/x-npy', accept: 'application/x-npy' }, (b) => {
    if (b.length < SIDE * SIDE) throw new Error('short .npy answer');
  });
  const npyMedianS = median(npyTimes) / 1000;
  const mbps = x.byteLength / 1e6 / npyMedianS;
  const npyBestMs = Math.min(...npyTimes);
  log(`2048x2048 quantize as .npy: median ${(npyMedianS * 1000).toFixed(1)} ms per round trip = ${mbps.toFixed(0)} MB/s of float32 (best ${(x.byteLength / 1e3 / npyBestMs).toFixed(0)} MB/s; target >= 300 MB/s)`);
  log('(round trips include the client: this process sends and reads the bodies, built once before timing, on the same cores)');

  if (asJson) {
    console.log(
      JSON.stringify({
        small_quantize: small,
        json_2048: { median_ms: jsonMedianS * 1000, best_ms: jsonBestMs, rounds: jsonTimes.length, request_bytes: jb.length, answer_bytes: answerBytes, client_parse_ms: clientParseMs, target_ms: 500 },
        npy_2048: { median_ms: npyMedianS * 1000, best_ms: npyBestMs, rounds: npyTimes.length, mb_per_s: mbps, best_mb_per_s: x.byteLength / 1e3 / npyBestMs, target_mb_per_s: 300 },
      }),
    );
  }
} finally {
  agent.destroy();
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
