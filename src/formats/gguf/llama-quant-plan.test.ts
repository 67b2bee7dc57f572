import { describe, expect, it } from 'vitest';
import { GGML_TYPES } from '../../core/ggml/index.js';
import type { GgmlType } from '../../core/ggml/index.js';
import type { GgufTensorInfo } from './gguf-header.js';
import type { GgufValue } from './gguf-value.js';
import { ggmlDims, llamaTensorOrder, planLlamaQuantization } from './llama-quant-plan.js';

/*
 * The rules the golden models (test/gguf/golden-models.test.ts, against llama.cpp itself) do not
 * reach: 70B-style GQA models, Falcon, 8-expert models, layer numbers past 9, dims with trailing 1s.
 */

const info = (name: string, dims: number[], type: GgmlType = 'F16'): GgufTensorInfo => ({ name, dims, type: GGML_TYPES[type], offset: 0n, elements: dims.reduce((a, b) => a * b, 1), byteLength: 0 });

function meta(arch: string, layers: number, heads: number, kvHeads: number, experts = 0): Map<string, GgufValue> {
  const m = new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: arch }],
    [`${arch}.block_count`, { type: 'u32', value: layers }],
    [`${arch}.attention.head_count`, { type: 'u32', value: heads }],
    [`${arch}.attention.head_count_kv`, { type: 'u32', value: kvHeads }],
  ]);
  if (experts) m.set(`${arch}.expert_count`, { type: 'u32', value: experts });
  return m;
}

function model(layers: number, extra: (i: number) => GgufTensorInfo[] = () => []): GgufTensorInfo[] {
  const t = [info('token_embd.weight', [256, 1000]), info('output.weight', [256, 1000])];
  for (let i = 0; i < layers; i++) t.push(info(`blk.${i}.attn_v.weight`, [256, 256]), info(`blk.${i}.ffn_down.weight`, [256, 256]), info(`blk.${i}.attn_norm.weight`, [256], 'F32'), ...extra(i));
  return t;
}

const typesOf = (plan: ReturnType<typeof planLlamaQuantization>, re: RegExp) => plan.filter((p) => re.test(p.tensor.name)).map((p) => p.type.name);

describe('llama.cpp mix rules beyond the golden models', () => {
  it("orders tensors as llama.cpp's loader does: outside blocks first, then by block number (blk.10 after blk.9)", () => {
    const names = llamaTensorOrder(model(11).reverse()).map((t) => t.name);
    expect(names.slice(0, 2)).toEqual(['output.weight', 'token_embd.weight']);
    expect(names.indexOf('blk.10.attn_v.weight')).toBeGreaterThan(names.indexOf('blk.9.ffn_down.weight'));
    expect(names.slice(2, 5)).toEqual(['blk.0.attn_norm.weight', 'blk.0.attn_v.weight', 'blk.0.ffn_down.weight']);
  });

  it('drops trailing 1s from dims as ggml_n_dims does, so a [256, 1] weight is 1-D and stays as it is', () => {
    expect(ggmlDims([256, 1, 1])).toEqual([256]);
    expect(ggmlDims([1, 1])).toEqual([1]);
    expect(ggmlDims([])).toEqual([1]);
    const plan = planLlamaQuantization(meta('llama', 1, 8, 8), [info('blk.0.attn_q.weight', [256, 1])], { mix: 'Q4_K_M' });
    expect(plan[0]!.type.name).toBe('F16');
    expect(plan[0]!.dims).toEqual([256]);
  });

  it('a 70B llama (80 layers, grouped-query attention) gives attn_v Q5_K where the mix says Q3_K or Q4_K', () => {
    const plan = planLlamaQuantization(meta('llama', 80, 64, 8), model(80), { mix: 'Q4_K_S' });
    expect(typesOf(plan, /attn_v/).slice(0, 6)).toEqual(['Q5_K', 'Q5_K', 'Q5_K', 'Q5_K', 'Q5_K', 'Q5_K']);
    const dense = planLlamaQuantization(meta('llama', 80, 64, 64), model(80), { mix: 'Q4_K_S' });
    expect(typesOf(dense, /attn_v/).slice(3, 6)).toEqual(['Q5_K', 'Q4_K', 'Q4_K']);
  });

  it('falcon: output Q8_0, and Q4_K_M ffn_down Q6_K / Q5_K / Q4_K by layer', () => {
    const plan = planLlamaQuantization(meta('falcon', 32, 8, 8), model(32), { mix: 'Q4_K_M' });
    expect(typesOf(plan, /^output/)).toEqual(['Q8_0']);
    const down = typesOf(plan, /ffn_down/);
    expect(down.slice(0, 4)).toEqual(['Q6_K', 'Q6_K', 'Q5_K', 'Q5_K']);
    expect(down[5]).toBe('Q4_K');
  });

  it('8 experts: attn_v and attn_k Q8_0; ffn_down layers read from the name', () => {
    const m = model(8, (i) => [info(`blk.${i}.attn_k.weight`, [256, 256])]);
    const plan = planLlamaQuantization(meta('llama', 8, 8, 8, 8), m, { mix: 'Q4_K_M' });
    expect(new Set(typesOf(plan, /attn_v|attn_k/))).toEqual(new Set(['Q8_0']));
    expect(typesOf(plan, /ffn_down/)).toEqual(['Q6_K', 'Q4_K', 'Q4_K', 'Q6_K', 'Q4_K', 'Q4_K', 'Q6_K', 'Q6_K']);
  });

  it('explicit output and token-embedding types win, and --leave-output-tensor keeps the output as it is', () => {
    const plan = planLlamaQuantization(meta('llama', 1, 8, 8), model(1), { mix: 'Q4_0', outputTensorType: GGML_TYPES.Q8_0, tokenEmbeddingType: GGML_TYPES.Q4_K });
    expect(typesOf(plan, /^output|token_embd/)).toEqual(['Q8_0', 'Q4_K']);
    const left = planLlamaQuantization(meta('llama', 1, 8, 8), model(1), { mix: 'Q4_0', leaveOutputTensor: true });
    expect(typesOf(left, /^output/)).toEqual(['F16']);
  });
});
