#!/usr/bin/env node
// How long one large request holds the service's event loop: starts the built service, fires each
// 2048x2048 request (quantize, dequantize, quantize_dequantize; JSON body, .npy body answered as
// JSON or as .npy, multipart upload) while a poller in a worker thread of this process sends
// `GET /` every 2 ms on its own connection, and reports the max and p99 latency of the GET / polls
// that overlapped the large request. The poller has its own event loop, so this process sending
// and reading the large bodies does not delay its measurements. Bounded: fixed rounds per case.
//
//   --baseline=DIR  also run the service built in DIR (DIR/dist/cli/main.js), alternating the two
//                   servers round by round, and print both: a before/after in one run.
//   --quick         one timed round per case instead of three.
//   --json          one JSON object.
//   --only=TEXT     only the cases whose name contains TEXT (e.g. --only=upload).
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { npyBody, startServer } from './lib.mjs';

if (!isMainThread) {
  await poll(workerData.url);
} else {
  await main();
}

/** The poller (worker thread): GET / in a loop until told to stop; posts [start, latency] pairs. */
async function poll(url) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let running = true;
  parentPort.on('message', () => {
    running = false;
  });
  const samples = [];
  const now = () => performance.timeOrigin + performance.now();
  while (running) {
    const t0 = now();
    await new Promise((res, rej) => {
      http
        .get(url, { agent }, (r) => {
          r.resume();
          r.on('end', res);
        })
        .on('error', rej);
    });
    samples.push(t0, now() - t0);
    if (samples.length % 2048 === 0) {
      parentPort.postMessage(samples.splice(0));
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  parentPort.postMessage(samples.splice(0));
  parentPort.postMessage('done');
  agent.destroy();
}

async function main() {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const args = process.argv.slice(2);
  const asJson = args.includes('--json');
  const rounds = args.includes('--quick') ? 1 : 3;
  const baselineArg = args.find((a) => a.startsWith('--baseline='));
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const log = (...a) => {
    if (!asJson) console.log(...a);
  };
  const SIDE = 2048;
  const N = SIDE * SIDE;

  const builds = [{ name: 'this', cli: join(here, '../dist/cli/main.js') }];
  if (baselineArg) builds.unshift({ name: 'baseline', cli: resolve(baselineArg.slice('--baseline='.length), 'dist/cli/main.js') });

  // Data as in server.bench: uniform in [-4, 4) from a fixed LCG; codes an int8 quantize would give.
  const x = new Float32Array(N);
  let s = 12345;
  for (let i = 0; i < N; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s / 2 ** 32) * 8 - 4;
  }
  const codes = new Int8Array(N);
  for (let i = 0; i < N; i++) codes[i] = Math.max(-128, Math.min(127, Math.round(x[i] * 31.75)));
  const jsonOf = (a) => {
    const rows = [];
    for (let r = 0; r < SIDE; r++) rows.push('[' + Array.from(a.subarray(r * SIDE, (r + 1) * SIDE)).join(',') + ']');
    return Buffer.from('{"data":[' + rows.join(',') + ']}');
  };
  const xJson = jsonOf(x);
  const codesJson = jsonOf(codes);
  const xNpy = npyBody(x, 'float32', [SIDE, SIDE]);
  const codesNpy = npyBody(codes, 'int8', [SIDE, SIDE]);
  const BOUNDARY = 'quantkitbenchboundary';
  const multipart = (npy) =>
    Buffer.concat([
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.npy"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      npy,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]);
  const JSON_IN = { 'content-type': 'application/json' };
  const NPY_IN = { 'content-type': 'application/x-npy' };
  const NPY_BOTH = { ...NPY_IN, accept: 'application/x-npy' };
  const MULTI = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
  const OPS = ['quantize', 'dequantize', 'quantize_dequantize'];
  const input = (op, json) => (op === 'dequantize' ? (json ? codesJson : codesNpy) : json ? xJson : xNpy);
  const allCases = [
    ...OPS.map((op) => ({ name: `JSON body -> JSON: ${op}`, path: `/instances/default/${op}`, body: input(op, true), headers: JSON_IN })),
    ...OPS.map((op) => ({ name: `.npy body -> JSON: ${op}`, path: `/instances/default/${op}`, body: input(op, false), headers: NPY_IN })),
    ...OPS.map((op) => ({ name: `.npy body -> .npy: ${op}`, path: `/instances/default/${op}`, body: input(op, false), headers: NPY_BOTH })),
    ...OPS.map((op) => ({ name: `upload -> JSON: ${op}`, path: `/instances/default/upload_numpy?operation=${op}`, body: multipart(input(op, false)), headers: MULTI })),
    { name: 'upload -> .npy: quantize_dequantize', path: '/instances/default/upload_numpy?operation=quantize_dequantize&download=true', body: multipart(xNpy), headers: MULTI },
  ];
  const cases = only === undefined ? allCases : allCases.filter((c) => c.name.includes(only));

  const servers = [];
  for (const b of builds) {
    const dataDir = mkdtempSync(join(tmpdir(), 'quantkit-bench-loop-'));
    const { child, url } = await startServer(b.cli, dataDir);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    servers.push({ ...b, dataDir, child, url, agent, samples: [], windows: new Map() });
  }
  try {
    const pollers = servers.map((srv) => {
      const w = new Worker(fileURLToPath(import.meta.url), { workerData: { url: `${srv.url}/` } });
      const done = new Promise((res, rej) => {
        w.on('message', (m) => (m === 'done' ? res() : srv.samples.push(...m)));
        w.on('error', rej);
      });
      return { w, done };
    });
    // A quantize first, so dequantize has last-used parameters (and every code path is compiled).
    for (const srv of servers) await expectOk(srv, { path: '/instances/default/quantize', body: xNpy, headers: NPY_IN });
    for (const c of cases) {
      progress(`${c.name} `);
      for (let round = 0; round <= rounds; round++) {
        // Alternate which server goes first, so neither always runs right after the other.
        const order = round % 2 ? [...servers].reverse() : servers;
        for (const srv of order) {
          const t0 = performance.timeOrigin + performance.now();
          await expectOk(srv, c);
          progress('.');
          const t1 = performance.timeOrigin + performance.now();
          // Round 0 warms up (first use of the route and the worker).
          if (round > 0) (srv.windows.get(c.name) ?? srv.windows.set(c.name, []).get(c.name)).push([t0, t1]);
        }
      }
      progress('\n');
    }
    // Idle baseline: a second of polls with nothing else running.
    const idle = { start: performance.timeOrigin + performance.now() };
    await new Promise((r) => setTimeout(r, 1000));
    idle.end = performance.timeOrigin + performance.now();
    for (const p of pollers) p.w.postMessage('stop');
    await Promise.all(pollers.map((p) => p.done));
    await Promise.all(pollers.map((p) => p.w.terminate()));

    const report = { cpu: cpuName(), rounds, builds: {} };
    for (const srv of servers) {
      const out = { idle: stats(overlapping(srv.samples, [[idle.start, idle.end]])), cases: {} };
      for (const c of cases) {
        const windows = srv.windows.get(c.name);
        const st = stats(overlapping(srv.samples, windows));
        st.request_ms = Math.max(...windows.map(([a, b]) => b - a));
        out.cases[c.name] = st;
      }
      report.builds[srv.name] = out;
    }
    log(`CPU: ${report.cpu}; 2048x2048 requests, ${rounds} timed round(s) each; GET / polled every 2 ms on its own connection`);
    log('latency of GET / polls overlapping the large request: max / p99 (polls), and the slowest large request');
    for (const srv of servers) log(`  [${srv.name}] idle: max ${report.builds[srv.name].idle.max_ms.toFixed(1)} ms, p99 ${report.builds[srv.name].idle.p99_ms.toFixed(1)} ms`);
    for (const c of cases) {
      const parts = servers.map((srv) => {
        const st = report.builds[srv.name].cases[c.name];
        return `[${srv.name}] max ${st.max_ms.toFixed(0).padStart(5)} ms, p99 ${st.p99_ms.toFixed(0).padStart(5)} ms (${String(st.polls).padStart(4)} polls; request ${st.request_ms.toFixed(0)} ms)`;
      });
      log(`  ${c.name.padEnd(40)} ${parts.join('   ')}`);
    }
    if (asJson) console.log(JSON.stringify(report));
  } finally {
    for (const srv of servers) {
      srv.agent.destroy();
      srv.child.kill('SIGTERM');
      await new Promise((r) => (srv.child.exitCode !== null ? r() : srv.child.on('exit', r)));
      rmSync(srv.dataDir, { recursive: true, force: true });
    }
  }
}

/** Progress on stderr, so --json output stays one object. */
function progress(text) {
  process.stderr.write(text);
}

/** The latencies of polls whose [start, start + latency] overlaps one of the windows. */
function overlapping(samples, windows) {
  const out = [];
  for (let i = 0; i < samples.length; i += 2) {
    const a = samples[i];
    const b = a + samples[i + 1];
    if (windows.some(([s, e]) => a < e && b > s)) out.push(samples[i + 1]);
  }
  return out;
}

function stats(latencies) {
  const s = [...latencies].sort((p, q) => p - q);
  const pick = (q) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN);
  return { polls: s.length, max_ms: s.length ? s[s.length - 1] : NaN, p99_ms: pick(0.99), p50_ms: pick(0.5) };
}

/** The same name lscpu prints as 'Model name'. */
function cpuName() {
  return cpus()[0]?.model ?? 'unknown';
}

/** One POST on the server's own keep-alive connection; throws unless it answers 200. */
function expectOk(srv, c) {
  return new Promise((res, rej) => {
    const req = http.request(`${srv.url}${c.path}`, { method: 'POST', agent: srv.agent, headers: { ...c.headers, 'content-length': c.body.length } }, (r) => {
      const chunks = [];
      r.on('data', (d) => chunks.push(d));
      r.on('end', () => {
        if (r.statusCode === 200) res();
        else rej(new Error(`${c.path}: ${r.statusCode} ${Buffer.concat(chunks).subarray(0, 300)}`));
      });
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end(c.body);
  });
}
