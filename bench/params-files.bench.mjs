#!/usr/bin/env node
// Writing the per-block parameters of a 256 MiB float32 tensor ([8192, 8192], int4, block 32 along
// the last axis: 2,097,152 scales and zero points) as the CLI's --params-out does: JSON text
// (encodeParamsJson) against the binary .safetensors file (encodeParamsSafetensors), and reading
// each back with readParamsFile (--params). Each write and read runs in a fresh process, as a
// CLI command does, loading only the parameters; its time and its peak RSS above what it held
// before are reported, median of RUNS, the processes alternating. "json (before)" is the JSON
// writer as it was: the file re-read through the zod schema before being written.
// `npm run build` first; `--json` prints one JSON object on stdout.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeQParams, decodeParamsFile, encodeParamsFile, encodeParamsJson, encodeParamsSafetensors } from 'quantkit';
import { readParamsFile } from 'quantkit/node';
import { median, normal } from './lib.mjs';

const SHAPE = [8192, 8192];
const RUNS = 5;
const here = fileURLToPath(import.meta.url);

/** One measurement in this (fresh) process: the parameters from raw files, then one write or read. */
function child(mode, dir) {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  const raw = (name) => readFileSync(join(dir, name));
  const s = raw('scale.bin');
  const z = raw('zp.bin');
  const params = {
    ...meta,
    scale: new Float32Array(s.buffer.slice(s.byteOffset, s.byteOffset + s.byteLength)),
    zeroPoint: new Int32Array(z.buffer.slice(z.byteOffset, z.byteOffset + z.byteLength)),
  };
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  let path;
  if (mode === 'read-json' || mode === 'read-safetensors') {
    path = join(dir, mode === 'read-json' ? 'p.json' : 'p.safetensors');
    const back = readParamsFile(path);
    if (back.params.scale.length !== params.scale.length) throw new Error('read back a different count');
  } else {
    path = join(dir, `${mode}.${mode === 'safetensors' ? 'safetensors' : 'json'}`);
    let bytes;
    if (mode === 'json-before') {
      // What encodeParamsFile did before: build the file, then check it by decoding it whole.
      const file = encodeParamsFile(params);
      decodeParamsFile(file);
      bytes = new TextEncoder().encode(`${JSON.stringify(file, null, 2)}\n`);
    } else if (mode === 'json') bytes = new TextEncoder().encode(encodeParamsJson(params));
    else bytes = encodeParamsSafetensors(params);
    writeFileSync(path, bytes);
  }
  const ms = performance.now() - t0;
  const peakMb = (process.resourceUsage().maxRSS * 1024 - rssBefore) / 1e6;
  process.stdout.write(JSON.stringify({ ms, peakMb: Math.max(0, peakMb), bytes: statSync(path).size }));
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4]);
} else {
  const json = process.argv.includes('--json');
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-params-bench-'));
  try {
    let x = normal(SHAPE[0] * SHAPE[1], 11);
    const p = computeQParams(x, SHAPE, { dtype: 'int4', granularity: { kind: 'per-block', axis: -1, blockSize: 32 } });
    x = null;
    const { scale, zeroPoint, ...meta } = p;
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    writeFileSync(join(dir, 'scale.bin'), scale);
    writeFileSync(join(dir, 'zp.bin'), zeroPoint);
    writeFileSync(join(dir, 'p.json'), encodeParamsJson(p));
    writeFileSync(join(dir, 'p.safetensors'), encodeParamsSafetensors(p));
    const modes = ['json-before', 'json', 'safetensors', 'read-json', 'read-safetensors'];
    const samples = Object.fromEntries(modes.map((m) => [m, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const m of modes) {
        const out = spawnSync(process.execPath, [here, '--child', m, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        if (out.status !== 0) throw new Error(`${m} failed (exit ${out.status})`);
        samples[m].push(JSON.parse(out.stdout));
      }
    }
    const result = { cpu: cpus()[0]?.model, tensor: SHAPE, dtype: 'int4', block_size: 32, parameters: scale.length, runs: RUNS, modes: {} };
    for (const m of modes) {
      result.modes[m] = { ms: median(samples[m].map((s) => s.ms)), peak_mb: median(samples[m].map((s) => s.peakMb)), bytes: samples[m][0].bytes };
    }
    if (json) console.log(JSON.stringify(result));
    else {
      console.log(`params files: ${scale.length} per-block int4 parameters of a [${SHAPE.join(', ')}] float32 tensor (${result.cpu}), median of ${RUNS} fresh processes`);
      for (const m of modes) {
        const r = result.modes[m];
        console.log(`  ${m.padEnd(17)} ${r.ms.toFixed(0).padStart(6)} ms  peak +${r.peak_mb.toFixed(0).padStart(4)} MB  file ${(r.bytes / 1e6).toFixed(1).padStart(5)} MB`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
