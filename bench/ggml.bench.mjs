#!/usr/bin/env node
// Quantize throughput per ggml block type: quantkit's quantizeGgml (pure TypeScript) against
// llama.cpp's own ggml_quantize_chunk from the pinned @node-llama-cpp/linux-x64 libggml-base.so,
// called through python3 ctypes in a child process. Both quantize the same 1M float32 values (rows
// of 4096) strictly alternating: each round the python child times one ctypes call, then this
// process times one quantizeGgml call; medians over ROUNDS. Also checks that the bytes are equal.
// `npm run build` first; `--json` prints one JSON object on stdout. Without python3 + numpy or the
// library it reports quantkit alone.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GGML_TYPES, quantizeGgml } from 'quantkit/core';
import { median, normal } from './lib.mjs';

const json = process.argv.includes('--json');
const ROUNDS = 7;
const N = 1 << 20;
const ROW = 4096;
const TYPES = ['F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'MXFP4', 'TQ1_0', 'TQ2_0'];
const IMATRIX_TYPES = ['Q4_0', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_XS'];
const here = dirname(fileURLToPath(import.meta.url));
const lib = join(here, '..', 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64', 'libggml-base.so');

// The reference side: reads "TYPE IMATRIX OUT" lines, runs one timed ggml_quantize_chunk per line,
// writes the bytes to OUT and answers with the seconds it measured.
const PY = `
import ctypes, sys, time
import numpy as np
lib = ctypes.CDLL(sys.argv[1])
lib.ggml_row_size.restype = ctypes.c_size_t
lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
lib.ggml_quantize_chunk.restype = ctypes.c_size_t
lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
x = np.fromfile(sys.argv[2], dtype=np.float32)
im = np.fromfile(sys.argv[3], dtype=np.float32)
row = im.size
print('ready', flush=True)
for line in sys.stdin:
    tid, use_im, out = line.split()
    tid = int(tid)
    dst = np.zeros(lib.ggml_row_size(tid, row) * (x.size // row), dtype=np.uint8)
    imp = im.ctypes.data_as(ctypes.c_void_p) if use_im == '1' else None
    t0 = time.perf_counter()
    lib.ggml_quantize_chunk(tid, x.ctypes.data_as(ctypes.c_void_p), dst.ctypes.data_as(ctypes.c_void_p), 0, x.size // row, row, imp)
    dt = time.perf_counter() - t0
    if out != '-':
        dst.tofile(out)
    print(dt, flush=True)
`;

const x = normal(N, 17);
const imatrix = normal(ROW, 5).map((v) => v * v);
const dir = mkdtempSync(join(tmpdir(), 'quantkit-ggml-bench-'));
writeFileSync(join(dir, 'x.bin'), new Uint8Array(x.buffer));
writeFileSync(join(dir, 'im.bin'), new Uint8Array(imatrix.buffer));

let cpu = 'unknown';
try {
  cpu = /Model name:\s*(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim() ?? cpu;
} catch {}

/** A line-oriented conversation with the python child; null when python, numpy or the library is missing. */
async function startReference() {
  const child = spawn('python3', ['-c', PY, lib, join(dir, 'x.bin'), join(dir, 'im.bin')], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let k;
    while ((k = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, k);
      buf = buf.slice(k + 1);
      const w = waiters.shift();
      if (w) w.resolve(line);
      else lines.push(line);
    }
  });
  const closed = new Promise((resolve) => child.on('close', resolve));
  child.on('error', () => {});
  const next = () =>
    lines.length
      ? Promise.resolve(lines.shift())
      : new Promise((resolve, reject) => {
          waiters.push({ resolve });
          closed.then(() => reject(new Error('reference process exited')));
        });
  try {
    if ((await next()) !== 'ready') return null;
  } catch {
    return null;
  }
  return {
    async run(id, useImatrix, out) {
      child.stdin.write(`${id} ${useImatrix ? 1 : 0} ${out ?? '-'}\n`);
      return Number(await next()) * 1000;
    },
    close() {
      child.stdin.end();
    },
  };
}

const ref = await startReference();
const result = { cpu, elements: N, rowLength: ROW, rounds: ROUNDS, reference: ref ? 'ggml_quantize_chunk (libggml-base.so via python3 ctypes)' : null, types: {} };
const cases = [...TYPES.map((t) => [t, false]), ...IMATRIX_TYPES.map((t) => [t, true])];
for (const [type, useImatrix] of cases) {
  const opts = useImatrix ? { imatrix } : {};
  const label = useImatrix ? `${type}+imatrix` : type;
  const mine = quantizeGgml(x, type, opts); // warm-up, and the bytes to compare
  let identical = null;
  if (ref) {
    const out = join(dir, 'ref.bin');
    await ref.run(GGML_TYPES[type].id, useImatrix, out);
    const theirs = readFileSync(out);
    identical = theirs.length === mine.length && theirs.equals(Buffer.from(mine.buffer, mine.byteOffset, mine.byteLength));
  }
  const ours = [];
  const theirs = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (ref) theirs.push(await ref.run(GGML_TYPES[type].id, useImatrix));
    globalThis.gc?.();
    const t0 = performance.now();
    quantizeGgml(x, type, opts);
    ours.push(performance.now() - t0);
  }
  const quantkitMs = median(ours);
  const ggmlMs = ref ? median(theirs) : null;
  const entry = {
    quantkit_ms: quantkitMs,
    quantkit_mvalues_per_s: N / quantkitMs / 1000,
    ggml_ms: ggmlMs,
    ratio: ggmlMs === null ? null : quantkitMs / ggmlMs,
    identical,
  };
  result.types[label] = entry;
  if (!json) {
    const refPart = ggmlMs === null ? '' : `, ggml ${ggmlMs.toFixed(1)} ms, quantkit/ggml ${entry.ratio.toFixed(2)}×, bytes ${identical ? 'identical' : 'DIFFER'}`;
    console.log(`ggml ${label.padEnd(13)} quantkit ${quantkitMs.toFixed(1)} ms (${entry.quantkit_mvalues_per_s.toFixed(1)} M values/s)${refPart}`);
  }
}
ref?.close();
rmSync(dir, { recursive: true, force: true });
if (json) console.log(JSON.stringify(result));
else console.log(`${N} values, rows of ${ROW}, median of ${ROUNDS} alternating rounds on ${cpu}${ref ? '' : ' (reference unavailable: quantkit only)'}`);
