#!/usr/bin/env node
// Benchmarks the Quantizer API service over loopback: one server process (the built CLI's
// `serve`), autocannon for the small request's throughput and latency, timed round trips for the
// 2048x2048 JSON and .npy requests. Bounded: fixed durations and request counts. `--json` prints
// one JSON object. `--store postgres` instead compares stores on the small request: one replica on
// SQLite, one on PostgreSQL (a throw-away cluster, fsync on) and two replicas on one database,
// with the machine's CPU named (the replicas, the database and the client share its cores).
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { cpus } from 'node:os';
import { npyBody, startServe, startServer } from './lib.mjs';

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
const storeArg = args.find((a) => a.startsWith('--store='))?.slice('--store='.length) ?? (args.includes('--store') ? args[args.indexOf('--store') + 1] : 'sqlite');
if (storeArg !== 'sqlite' && storeArg !== 'postgres') {
  console.error(`--store: expected sqlite or postgres, got ${JSON.stringify(storeArg)}`);
  process.exit(2);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The 2x3 quantize at 16 connections in all, spread evenly over the replicas' urls, run at once. */
async function smallQuantize(...urls) {
  const body = JSON.stringify({ data: [[1.2, 3.4, 5.6], [7.8, 9.0, 2.1]], validate: true });
  const each = 16 / urls.length;
  const run = (url, connections, duration) =>
    autocannon({ url: `${url}/instances/default/quantize`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, pipelining: 1, duration });
  // Warm the JIT before measuring.
  await Promise.all(urls.map((url) => run(url, 10 / urls.length, 1)));
  const rs = await Promise.all(urls.map((url) => run(url, each, SMALL_SECONDS)));
  for (const r of rs) if (r.non2xx > 0 || r.errors > 0) throw new Error(`small quantize: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  const total = rs.reduce((n, r) => n + r.requests.total, 0);
  return {
    requests_per_s: rs.reduce((n, r) => n + r.requests.average, 0),
    p50_ms: Math.max(...rs.map((r) => r.latency.p50)),
    p99_ms: Math.max(...rs.map((r) => r.latency.p99)),
    requests: total,
    seconds: SMALL_SECONDS,
    connections: 16,
    replicas: urls.length,
  };
}

/** A replica of the built service on a PostgreSQL database. */
function startReplica(databaseUrl, name) {
  return startServe(join(here, '../dist/cli/main.js'), ['--database-url', databaseUrl, '--replica-id', name]);
}

async function stop(child) {
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
}

/** --store postgres: the small request on SQLite, on PostgreSQL, and on two replicas of one database. */
async function compareStores() {
  const { startThrowawayPostgres } = await import('../dist/node/store/throwaway-postgres.js');
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const dataDir = mkdtempSync(join(tmpdir(), 'quantkit-bench-'));
  const cluster = await startThrowawayPostgres();
  const out = { cpu, cores: cpus().length };
  try {
    log(`CPU: ${cpu} (${cpus().length} cores shared by the replicas, PostgreSQL and the client)`);
    const lite = await startServer(join(here, '../dist/cli/main.js'), dataDir);
    try {
      out.sqlite = await smallQuantize(lite.url);
    } finally {
      await stop(lite.child);
    }
    log(`2x3 quantize, SQLite, 1 replica: ${out.sqlite.requests_per_s.toFixed(0)} req/s, p99 ${out.sqlite.p99_ms} ms`);
    const one = await startReplica(cluster.url, 'bench-1');
    try {
      out.postgres = await smallQuantize(one.url);
    } finally {
      await stop(one.child);
    }
    out.postgres.ratio_to_sqlite = out.postgres.requests_per_s / out.sqlite.requests_per_s;
    log(`2x3 quantize, PostgreSQL, 1 replica: ${out.postgres.requests_per_s.toFixed(0)} req/s, p99 ${out.postgres.p99_ms} ms (${out.postgres.ratio_to_sqlite.toFixed(2)}x SQLite; goal >= 0.7x)`);
    const two = [await startReplica(cluster.url, 'bench-a'), await startReplica(cluster.url, 'bench-b')];
    try {
      out.postgres_2_replicas = await smallQuantize(...two.map((r) => r.url));
      // Statistics are shared and exact: one replica reports both replicas' counts.
      const stats = await (await fetch(`${two[0].url}/instances/default/stats`)).json();
      out.postgres_2_replicas.counted = stats.quantize_calls;
    } finally {
      await Promise.all(two.map((r) => stop(r.child)));
    }
    log(`2x3 quantize, PostgreSQL, 2 replicas on one database: ${out.postgres_2_replicas.requests_per_s.toFixed(0)} req/s, p99 ${out.postgres_2_replicas.p99_ms} ms (stats count ${out.postgres_2_replicas.counted} calls of both replicas, warm-up included)`);
    if (asJson) console.log(JSON.stringify(out));
  } finally {
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (storeArg === 'postgres') {
  await compareStores();
  process.exit(0);
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
