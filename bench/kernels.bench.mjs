#!/usr/bin/env node
// Kernel throughput on 16 Mi float32 elements (random normal), each as a median of warm runs and as
// a ratio to dst.set(src) copying the same bytes in this process: a copy is the floor any kernel
// that must read its input and write its output has to pay, so the ratio travels across machines
// better than milliseconds do. Uses the BUILT library through its package name (npm run build first). `--json` prints one
// JSON object and nothing else on stdout; `--runs N` sets the timed runs per row (default 15). Targets
// are reported, never enforced. Run with --expose-gc (bench/run.mjs does) so garbage from one run
// (a 16 MiB codes array per end-to-end call) is collected between runs, not inside the next one.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { blockLayout, chooseQParams, createWasmArena, PER_TENSOR, QUANT_DTYPES, quantize, referenceKernels, wasmAvailable, wasmKernels, wasmZeroCopy } from 'quantkit/core'; // the package as Node callers import it (its "node" entry)
import { normal } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const json = process.argv.includes('--json');
const log = json ? () => {} : (s) => console.log(s);
const N = 16 * 1024 * 1024;
const ROWS = 4096;
const COLS = N / ROWS;
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Math.max(3, Number(process.argv[runsArg + 1]) | 0) : 15;
const loadAtStart = loadavg();


/**
 * Times `fn` and the copy it is compared with in alternation, so both medians come from the same
 * stretch of time: other engineers share this CPU and a copy timed a minute earlier is no baseline.
 * `pairRatio` is the median of the per-pair ratios, steadier than the ratio of medians when the
 * load changes during a row.
 */
function paired(fn, copy, runs = RUNS) {
  fn();
  copy();
  const k = [];
  const c = [];
  const r = [];
  for (let i = 0; i < runs; i++) {
    globalThis.gc?.();
    let t0 = performance.now();
    fn();
    const a = performance.now() - t0;
    t0 = performance.now();
    copy();
    const b = performance.now() - t0;
    k.push(a);
    c.push(b);
    r.push(a / b);
  }
  const median = (v) => v.sort((x, y) => x - y)[v.length >> 1];
  const ms = median(k);
  return { ms, minMs: k[0], copyMs: median(c), pairRatio: median(r) };
}

/** dst.set(src) for a preallocated, warm dst of the same type and length. */
function copier(src) {
  const dst = new src.constructor(src.length).fill(1);
  return () => dst.set(src);
}

function params(x, shape, granularity, dtype) {
  const layout = blockLayout(shape, granularity);
  const min = new Float32Array(layout.paramCount).fill(Infinity);
  const max = new Float32Array(layout.paramCount).fill(-Infinity);
  wasmKernels.minMax(x, layout, min, max);
  return { layout, ...chooseQParams(min, max, { dtype, symmetric: false, narrow: false }) };
}

if (!wasmAvailable()) throw new Error('WebAssembly SIMD is not available: nothing to benchmark');

const x = normal(N);
const copyF32 = copier(x);
const u8 = QUANT_DTYPES.uint8;
const i8 = QUANT_DTYPES.int8;
const i4 = QUANT_DTYPES.int4;
const rows = [];
function row(name, fn, copy, target, runs = RUNS) {
  const { ms, minMs, copyMs, pairRatio } = paired(fn, copy, runs);
  rows.push({ name, ms, minMs, copyMs, ratio: ms / copyMs, pairRatio, target, met: target === undefined ? undefined : ms / copyMs <= target });
}

const pt = params(x, [N], PER_TENSOR, u8);
const shape = [ROWS, COLS];
const GRANULAR = [
  ['per-channel int8 (axis 0)', { kind: 'per-axis', axis: 0 }, i8],
  ['per-channel int8 (axis 1)', { kind: 'per-axis', axis: 1 }, i8],
  ['per-block int4 (axis 1, block 32)', { kind: 'per-block', axis: 1, blockSize: 32 }, i4],
  ['per-block int4 (axis 0, block 32)', { kind: 'per-block', axis: 0, blockSize: 32 }, i4],
].map(([name, g, dtype]) => ({ name, dtype, ...params(x, shape, g, dtype) }));
const pc = params(x, shape, { kind: 'per-axis', axis: 1 }, i8);

/**
 * Every kernel row twice: 'wasm memory' with input and output living in linear memory (arena
 * arrays: the kernels run in place, zero copies) and 'heap' with ordinary arrays (each chunk staged
 * through linear memory: one copy in, one out). Targets apply to the zero-copy rows, which is how
 * the issue's own 0.79x was measured; the heap rows show what staging costs.
 */
const arena = createWasmArena();
const placements = [
  ['wasm memory', { float32: (n) => arena.float32(n), codes: (s, n) => arena.codes(s, n) }],
  ['heap', { float32: (n) => new Float32Array(n), codes: (s, n) => new { int8: Int8Array, uint8: Uint8Array }[s](n) }],
];
for (const [where, alloc] of placements) {
  const zeroCopy = where === 'wasm memory';
  const tgt = (t) => (zeroCopy ? t : undefined);
  const xs = alloc.float32(N);
  xs.set(x);
  const codes = alloc.codes('uint8', N);
  row(`quantize per-tensor uint8 [${where}]`, () => wasmKernels.quantize(xs, pt.layout, pt.scale, pt.zeroPoint, u8.qmin, u8.qmax, codes), copyF32, tgt(0.9));
  const codesI8 = alloc.codes('int8', N);
  for (const p of GRANULAR) {
    row(`quantize ${p.name} [${where}]`, () => wasmKernels.quantize(xs, p.layout, p.scale, p.zeroPoint, p.dtype.qmin, p.dtype.qmax, codesI8), copyF32, tgt(1.2));
  }
  wasmKernels.quantize(xs, pt.layout, pt.scale, pt.zeroPoint, u8.qmin, u8.qmax, codes);
  const deq = alloc.float32(N);
  // Dequantize writes 4 bytes per code, so its floor is the copy of its output.
  row(`dequantize per-tensor uint8 [${where}]`, () => wasmKernels.dequantize(codes, pt.layout, pt.scale, pt.zeroPoint, deq), copyF32, tgt(1.0));
  const mn = new Float32Array(1);
  const mx = new Float32Array(1);
  row(`minMax per-tensor [${where}]`, () => {
    mn[0] = Infinity;
    mx[0] = -Infinity;
    wasmKernels.minMax(xs, pt.layout, mn, mx);
  }, copyF32, tgt(0.5));
  row(`minMax per-tensor finiteOnly [${where}]`, () => {
    mn[0] = Infinity;
    mx[0] = -Infinity;
    wasmKernels.minMax(xs, pt.layout, mn, mx, 0, true);
  }, copyF32);
  const mnc = new Float32Array(COLS);
  const mxc = new Float32Array(COLS);
  row(`minMax per-channel (axis 1) [${where}]`, () => {
    mnc.fill(Infinity);
    mxc.fill(-Infinity);
    wasmKernels.minMax(xs, pc.layout, mnc, mxc);
  }, copyF32);
  row(`fakeQuantize per-tensor uint8 [${where}]`, () => wasmKernels.fakeQuantize(xs, pt.layout, pt.scale, pt.zeroPoint, u8.qmin, u8.qmax, deq), copyF32);
  const nibbles = alloc.codes('int8', N);
  for (let i = 0; i < N; i++) nibbles[i] = codesI8[i] % 8;
  const packed = alloc.codes('uint8', N / 2);
  const copyCodes = copier(nibbles);
  row(`pack int4 [${where}]`, () => wasmKernels.pack(nibbles, 4, packed), copyCodes);
  const unpacked = alloc.codes('int8', N);
  row(`unpack int4 [${where}]`, () => wasmKernels.unpack(packed, 4, true, unpacked), copyCodes);
  arena.reset();
}

// What a caller pays: their Float32Array in, a fresh codes array out (range, qparams, allocation, quantize).
row('end-to-end quantize(x) -> new Uint8Array (range + quantize)', () => quantize(x, [N], { dtype: 'uint8' }), copyF32, 2.0);
row('end-to-end quantize(x) per-channel int8 (axis 1) -> new Int8Array', () => quantize(x, shape, { dtype: 'int8', granularity: { kind: 'per-axis', axis: 1 } }), copyF32);

const heapCodes = new Uint8Array(N);
row('reference (pure TS) quantize per-tensor uint8', () => referenceKernels.quantize(x, pt.layout, pt.scale, pt.zeroPoint, u8.qmin, u8.qmax, heapCodes), copyF32, undefined, 3);

// numpy's plain vectorised versions against ours in WebAssembly memory, one run each in turn.
const npX = arena.float32(N);
npX.set(x);
const npCodes = arena.codes('uint8', N);
const npOut = arena.float32(N);
wasmKernels.quantize(npX, pt.layout, pt.scale, pt.zeroPoint, u8.qmin, u8.qmax, npCodes);
const npMin = new Float32Array(1);
const npMax = new Float32Array(1);
const numpy = await pairedWithNumpy({
  min_max: () => {
    npMin[0] = Infinity;
    npMax[0] = -Infinity;
    wasmKernels.minMax(npX, pt.layout, npMin, npMax);
  },
  quantize: () => wasmKernels.quantize(npX, pt.layout, pt.scale, pt.zeroPoint, u8.qmin, u8.qmax, npCodes),
  dequantize: () => wasmKernels.dequantize(npCodes, pt.layout, pt.scale, pt.zeroPoint, npOut),
});
const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
const speedups = numpy && {
  minMax: numpy.min_max.speedup,
  quantize: numpy.quantize.speedup,
  quantizeFromHeap: numpy.quantize.numpyMs / byName['quantize per-tensor uint8 [heap]'].ms,
  dequantize: numpy.dequantize.speedup,
};

if (json) {
  console.log(JSON.stringify({ elements: N, runs: RUNS, loadAverage: { start: loadAtStart, end: loadavg() }, rows, numpy, speedupOverNumpy: speedups, quantizeTargetOverNumpy: 8, quantizeTargetOverNumpyMet: speedups ? speedups.quantize >= 8 : undefined }));
} else {
  log(`zero-copy (shared WebAssembly memory): ${wasmZeroCopy() ? 'yes' : 'NO (staging only)'}`);
  log(`kernels on ${N} float32 elements; each row timed ${RUNS} times in alternation with dst.set(src) of its input (64 MiB float32, 16 MiB codes for pack/unpack)`);
  log(`load average (1, 5, 15 min) at start ${loadAtStart.map((v) => v.toFixed(2)).join(' ')}, at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}; ratios are medians over alternating runs (x copy), pair = median of per-run ratios`);
  for (const r of rows) {
    const target = r.target === undefined ? '' : `  target <= ${r.target}x: ${r.met ? 'met' : 'MISSED'}`;
    log(`${r.name.padEnd(66)} ${r.ms.toFixed(2).padStart(8)} ms (fastest ${r.minMs.toFixed(2).padStart(7)}, copy ${r.copyMs.toFixed(2).padStart(6)})  ${r.ratio.toFixed(2).padStart(6)}x copy (pair ${r.pairRatio.toFixed(2)}x)${target}`);
  }
  if (numpy) {
    const pair = (op) => `${numpy[op].numpyMs.toFixed(2)} ms against ${numpy[op].ms.toFixed(2)}`;
    log(`numpy ${numpy.numpy}, runs alternating with ours in WASM memory (medians): min+max ${pair('min_max')}, quantize ${pair('quantize')}, dequantize ${pair('dequantize')}`);
    log(`speed-up over numpy (median of per-pair ratios): min/max ${speedups.minMax.toFixed(1)}x, quantize ${speedups.quantize.toFixed(1)}x in WASM memory (target >= 8x: ${speedups.quantize >= 8 ? 'met' : 'MISSED'}), ${speedups.quantizeFromHeap.toFixed(1)}x from a heap array, dequantize ${speedups.dequantize.toFixed(1)}x`);
  } else {
    log('numpy: python3 with numpy not found, comparison skipped');
  }
}

/**
 * Times each operation against numpy's in alternation: a persistent python3 process
 * (scripts/bench-numpy.py --serve) runs one operation per request and reports its own time, so both
 * sides see the same load, which on this shared machine swings by 2x within a minute. The
 * speed-up is the median of the per-pair ratios. Undefined when python3 with numpy is missing.
 */
async function pairedWithNumpy(ours) {
  const child = spawn('python3', [join(here, '../scripts/bench-numpy.py'), '--serve', String(N)], { stdio: ['pipe', 'pipe', 'ignore'] });
  child.on('error', () => {});
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error('the numpy process ended');
    return r.value;
  };
  const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
  try {
    const out = { numpy: JSON.parse(await next()).numpy };
    for (const [op, fn] of Object.entries(ours)) {
      fn();
      const a = [];
      const b = [];
      const r = [];
      for (let i = 0; i < RUNS; i++) {
        globalThis.gc?.();
        const t0 = performance.now();
        fn();
        const ms = performance.now() - t0;
        child.stdin.write(`${op}\n`);
        const np = Number(await next());
        a.push(ms);
        b.push(np);
        r.push(np / ms);
      }
      out[op] = { ms: median(a), numpyMs: median(b), speedup: median(r) };
    }
    return out;
  } catch {
    return undefined;
  } finally {
    child.stdin.end();
    child.kill();
  }
}
