import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import type { Llama, LlamaModel, Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeGgufFile } from '../../src/node/gguf/quantize-gguf-file.js';
import { buildTinyLlama } from './tiny-llama.js';
import type { TinyLlamaConfig } from './tiny-llama.js';

/*
 * quantkit's GGUF files run in llama.cpp (node-llama-cpp's prebuilt binaries, CPU): the tiny
 * F16 model quantkit writes loads and generates, and quantkit's Q8_0 of it gives the very logits
 * of llama_model_quantize's Q8_0 (test/fixtures/gguf/small-q8_0.llama.gguf, made by
 * scripts/gen-gguf-golden.py), on this machine's kernels, whichever they are.
 */

const FIXTURES = new URL('../fixtures/gguf/', import.meta.url);
const golden = JSON.parse(readFileSync(new URL('golden-models.json', FIXTURES), 'utf8')) as { models: { small: { config: TinyLlamaConfig } } };

let dir: string;
let llama: Llama;
const models: LlamaModel[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'quantkit-gguf-llama-'));
  llama = await getLlama({ build: 'never', gpu: false, logLevel: LlamaLogLevel.error });
}, 120_000);
afterAll(async () => {
  for (const m of models) await m.dispose();
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function load(path: string): Promise<LlamaModel> {
  const m = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  models.push(m);
  return m;
}

/** The logits of every vocabulary token after `prompt`, and `n` greedily generated tokens. */
async function run(model: LlamaModel, prompt: string, n: number): Promise<{ logits: number[]; generated: Token[] }> {
  const context = await model.createContext({ contextSize: 64, threads: 1, batchSize: 64 });
  try {
    const seq = context.getSequence();
    const tokens = model.tokenize(prompt);
    const last = tokens.length - 1;
    const out = await seq.controlledEvaluate([...tokens.slice(0, last), [tokens[last]!, { generateNext: { logits: true } }]]);
    const map = out[last]!.next!.logits!;
    const logits = Array.from({ length: golden.models.small.config.n_vocab }, (_, t) => map.get(t as Token)!);
    const generated: Token[] = [];
    let l = map;
    for (let i = 0; i < n; i++) {
      let best = 0 as Token;
      for (const [t, v] of l) if (v > l.get(best)!) best = t;
      generated.push(best);
      if (i + 1 < n) l = (await seq.controlledEvaluate([[best, { generateNext: { logits: true } }]]))[0]!.next!.logits!;
    }
    return { logits, generated };
  } finally {
    await context.dispose();
  }
}

describe('quantkit GGUF files run in llama.cpp', () => {
  it('the F16 model quantkit writes loads and generates tokens', { timeout: 120_000 }, async () => {
    const path = join(dir, 'small.f16.gguf');
    writeFileSync(path, buildTinyLlama(golden.models.small.config));
    const model = await load(path);
    expect(model.tokens.bos).toBe(1);
    const r = await run(model, 'the cat', 8);
    expect(r.logits).toHaveLength(golden.models.small.config.n_vocab);
    expect(r.logits.every(Number.isFinite)).toBe(true);
    expect(r.generated).toHaveLength(8);
  });

  it("quantkit's Q8_0 gives exactly the logits of llama_model_quantize's Q8_0", { timeout: 120_000 }, async () => {
    const f16 = join(dir, 'small.f16.gguf');
    writeFileSync(f16, buildTinyLlama(golden.models.small.config));
    const ours = join(dir, 'small.q8_0.quantkit.gguf');
    quantizeGgufFile(f16, ours, { mix: 'Q8_0' });
    const theirs = new URL('small-q8_0.llama.gguf', FIXTURES).pathname;
    const a = await run(await load(ours), 'the cat', 8);
    const b = await run(await load(theirs), 'the cat', 8);
    expect(a.logits).toHaveLength(golden.models.small.config.n_vocab);
    expect(a.logits).toEqual(b.logits);
    expect(a.generated).toEqual(b.generated);
    // The comparison tells models apart: the F16 model's logits are not Q8_0's.
    const f = await run(await load(f16), 'the cat', 1);
    expect(f.logits).not.toEqual(a.logits);
  });
});
