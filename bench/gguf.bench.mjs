#!/usr/bin/env node
// Whole-model Q4_K_M of a 1 GB F16 GGUF: quantkit's quantizeGgufFile against llama.cpp's own
// llama_model_quantize (libllama from @node-llama-cpp/linux-x64, through python3 ctypes with
// scripts/gen-gguf-golden.py), both on one thread, each in a fresh process: wall time and peak
// RSS, and whether the two output files are the same bytes. The model is llama-shaped (n_embd
// 2048, n_ff 5632, 9 layers, GQA 32/4 heads, 32,000-token vocabulary: 527M weights) with seeded
// random weights, generated once into a temp directory with quantkit's streaming writer.
// `npm run build` first; `--json` prints one JSON object on stdout. GGUF_BENCH_LAYERS=n resizes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeGgufHeader, GGML_TYPES, ggmlFp32ToFp16 } from 'quantkit';
import { GgufFileWriter, quantizeGgufFile } from 'quantkit/node';

const here = fileURLToPath(import.meta.url);
const REPO = dirname(dirname(here));
const json = process.argv.includes('--json');
const CFG = { n_vocab: 32000, n_embd: 2048, n_ff: 5632, n_layer: Number(process.env.GGUF_BENCH_LAYERS ?? 9), n_head: 32, n_head_kv: 4 };

function specs(c) {
  const kv = (c.n_embd * c.n_head_kv) / c.n_head;
  const s = [{ name: 'token_embd.weight', dims: [c.n_embd, c.n_vocab] }];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `blk.${i}.`;
    s.push(
      { name: `${p}attn_norm.weight`, dims: [c.n_embd] },
      { name: `${p}attn_q.weight`, dims: [c.n_embd, c.n_embd] },
      { name: `${p}attn_k.weight`, dims: [c.n_embd, kv] },
      { name: `${p}attn_v.weight`, dims: [c.n_embd, kv] },
      { name: `${p}attn_output.weight`, dims: [c.n_embd, c.n_embd] },
      { name: `${p}ffn_norm.weight`, dims: [c.n_embd] },
      { name: `${p}ffn_gate.weight`, dims: [c.n_embd, c.n_ff] },
      { name: `${p}ffn_up.weight`, dims: [c.n_embd, c.n_ff] },
      { name: `${p}ffn_down.weight`, dims: [c.n_ff, c.n_embd] },
    );
  }
  s.push({ name: 'output_norm.weight', dims: [c.n_embd] }, { name: 'output.weight', dims: [c.n_embd, c.n_vocab] });
  return s;
}

function metadata(c) {
  const u32 = (value) => ({ type: 'u32', value });
  const tokens = Array.from({ length: c.n_vocab }, (_, i) => (i < 3 ? ['<unk>', '<s>', '</s>'][i] : `t${i}`));
  return new Map([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.file_type', u32(1)],
    ['llama.context_length', u32(2048)],
    ['llama.embedding_length', u32(c.n_embd)],
    ['llama.block_count', u32(c.n_layer)],
    ['llama.feed_forward_length', u32(c.n_ff)],
    ['llama.rope.dimension_count', u32(c.n_embd / c.n_head)],
    ['llama.attention.head_count', u32(c.n_head)],
    ['llama.attention.head_count_kv', u32(c.n_head_kv)],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: Math.fround(1e-5) }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: new Float32Array(c.n_vocab) }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: Int32Array.from(tokens, (_, i) => (i < 3 ? 3 : 1)) }],
  ]);
}

/** Writes the model row slab by row slab: seeded xorshift values, about N(0, 0.02) (a sum of 4 uniforms). */
function generate(path) {
  const list = specs(CFG).map((s) => ({ ...s, type: s.dims.length === 1 ? GGML_TYPES.F32 : GGML_TYPES.F16 }));
  const layout = encodeGgufHeader(metadata(CFG), list);
  const w = new GgufFileWriter(path, layout);
  let s = 0x9e3779b9;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const slab = 1 << 20;
  for (const t of list) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    for (let at = 0; at < n; at += slab) {
      const m = Math.min(slab, n - at);
      if (t.type === GGML_TYPES.F32) {
        const x = new Float32Array(m);
        for (let i = 0; i < m; i++) x[i] = 1 + (next() - 0.5) * 0.1;
        w.write(new Uint8Array(x.buffer));
      } else {
        const h = new Uint16Array(m);
        for (let i = 0; i < m; i++) h[i] = ggmlFp32ToFp16((next() + next() + next() + next() - 2) * 0.035);
        w.write(new Uint8Array(h.buffer));
      }
    }
  }
  w.commit();
}

function sha256(path) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** Child: quantkit quantizes, then reports its wall time and peak RSS. */
function child(input, output) {
  const t0 = performance.now();
  quantizeGgufFile(input, output, { mix: 'Q4_K_M' });
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
}

const LLAMA = `
import importlib.util, json, resource, sys, time
s = importlib.util.spec_from_file_location('g', sys.argv[1]); g = importlib.util.module_from_spec(s); s.loader.exec_module(g)
L = g.lib(); p = L.llama_model_quantize_default_params(); p.nthread = 1; p.ftype = g.FTYPES['Q4_K_M']
t0 = time.time()
if L.llama_model_quantize(sys.argv[2].encode(), sys.argv[3].encode(), g.ctypes.byref(p)) != 0: raise SystemExit('llama_model_quantize failed')
print(json.dumps({'seconds': time.time() - t0, 'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

async function main() {
  if (process.argv[2] === '--child') return child(process.argv[3], process.argv[4]);
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-gguf-bench-'));
  try {
    const input = join(dir, 'model.f16.gguf');
    let t0 = performance.now();
    generate(input);
    const genSeconds = (performance.now() - t0) / 1000;
    const inBytes = statSync(input).size;
    const ours = join(dir, 'quantkit.Q4_K_M.gguf');
    const theirs = join(dir, 'llama.Q4_K_M.gguf');
    const q = spawnSync(process.execPath, [here, '--child', input, ours], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
    if (q.status !== 0) throw new Error('quantkit child failed');
    const quantkit = JSON.parse(q.stdout.trim().split('\n').pop());
    const l = spawnSync('python3', ['-c', LLAMA, join(REPO, 'scripts/gen-gguf-golden.py'), input, theirs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const llama = l.status === 0 ? JSON.parse(l.stdout.trim().split('\n').pop()) : null;
    const identical = llama ? (await sha256(ours)) === (await sha256(theirs)) : null;
    const r = {
      cpu: cpus()[0]?.model,
      model: { ...CFG, weights: specs(CFG).reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0), f16Bytes: inBytes, generateSeconds: genSeconds },
      outputBytes: statSync(ours).size,
      quantkit,
      llamaCpp: llama,
      ratio: llama ? quantkit.seconds / llama.seconds : null,
      identical,
    };
    if (json) console.log(JSON.stringify(r));
    else {
      console.log(`gguf: Q4_K_M of a ${(inBytes / 1e9).toFixed(2)} GB F16 llama GGUF (${(r.model.weights / 1e6).toFixed(0)}M weights) on ${r.cpu}, one thread each`);
      console.log(`  quantkit   ${quantkit.seconds.toFixed(1)} s, peak RSS ${quantkit.peakRssMb.toFixed(0)} MB -> ${(r.outputBytes / 1e6).toFixed(0)} MB`);
      if (llama) console.log(`  llama.cpp  ${llama.seconds.toFixed(1)} s, peak RSS ${llama.peakRssMb.toFixed(0)} MB (quantkit/llama.cpp time ${r.ratio.toFixed(2)}x); files ${identical ? 'identical' : 'DIFFER'}`);
      else console.log('  llama.cpp  not run (python3 with numpy and node_modules/@node-llama-cpp/linux-x64 needed)');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
