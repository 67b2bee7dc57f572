import { QuantError } from '../../core/errors.js';
import type { GgmlType, GgmlTypeInfo } from '../../core/ggml/index.js';
import { GGML_TYPES } from '../../core/ggml/index.js';
import type { GgufTensorInfo } from './gguf-header.js';
import type { GgufValue } from './gguf-value.js';
import { LLAMA_MIX_NAMES, LLAMA_MIXES } from './llama-mixes.js';
import type { LlamaMix } from './llama-mixes.js';

/*
 * Which ggml type each tensor of a model gets in each of llama.cpp's quantization mixes: the
 * rules of llama.cpp's src/llama-quant.cpp (tensor_allows_quantization, llama_tensor_get_type,
 * tensor_type_fallback) at the version node-llama-cpp 3.22.1 ships, written again here, for the
 * mixes whose types quantkit implements. The goldens in test/fixtures/gguf hold quantkit's plan
 * to llama_model_quantize's own output.
 */

export { LLAMA_MIX_NAMES, LLAMA_MIXES } from './llama-mixes.js';
export type { LlamaMix } from './llama-mixes.js';

export interface LlamaQuantOptions {
  readonly mix: LlamaMix;
  /** Every quantizable tensor gets the mix's default type: no per-tensor rules (llama-quantize --pure). */
  readonly pure?: boolean;
  /** Leave output.weight as it is (--leave-output-tensor). */
  readonly leaveOutputTensor?: boolean;
  readonly outputTensorType?: GgmlTypeInfo;
  readonly tokenEmbeddingType?: GgmlTypeInfo;
  /** Whether an importance matrix is given (some rules depend on it). */
  readonly hasImatrix?: boolean;
}

export interface LlamaTensorPlan {
  readonly tensor: GgufTensorInfo;
  /** ggml dims as llama.cpp writes them: trailing 1s dropped (ggml_n_dims). */
  readonly dims: readonly number[];
  readonly type: GgmlTypeInfo;
  /** The rule's type did not fit the row length and a fallback was taken. */
  readonly fallback: boolean;
}

type Category = 'token_embd' | 'attn_q' | 'attn_v' | 'attn_k' | 'attn_qkv' | 'attn_kv_b' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'output' | 'other';

const T = (name: GgmlType): GgmlTypeInfo => GGML_TYPES[name];

function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  const rules: [string, Category][] = [
    ['attn_qkv.weight', 'attn_qkv'],
    ['attn_kv_b.weight', 'attn_kv_b'],
    ['attn_v.weight', 'attn_v'],
    ['attn_k.weight', 'attn_k'],
    ['attn_q.weight', 'attn_q'],
    ['attn_output.weight', 'attn_output'],
    ['ffn_up', 'ffn_up'],
    ['ffn_gate', 'ffn_gate'],
    ['ffn_down', 'ffn_down'],
  ];
  for (const [needle, c] of rules) if (name.includes(needle)) return c;
  return 'other';
}

const isAttnV = (c: Category) => c === 'attn_v' || c === 'attn_qkv' || c === 'attn_kv_b';

/** Substrings of names llama.cpp never quantizes (small or special tensors). */
const NEVER_QUANTIZED = [
  '_norm.weight', 'ffn_gate_inp.weight', 'ffn_gate_tid2eid.weight', 'altup', 'laurel', 'per_layer_model_proj', 'ssm_conv1d',
  'shortconv.conv.weight', 'indexer.k_proj.weight', 'indexer.q_proj.weight', 'time_mix_first.weight', 'time_mix_w0.weight',
  'time_mix_w1.weight', 'time_mix_w2.weight', 'time_mix_v0.weight', 'time_mix_v1.weight', 'time_mix_v2.weight', 'time_mix_a0.weight',
  'time_mix_a1.weight', 'time_mix_a2.weight', 'time_mix_g1.weight', 'time_mix_g2.weight', 'time_mix_decay_w1.weight',
  'time_mix_decay_w2.weight', 'time_mix_lerp_fused.weight', 'attn_rel_b.weight', '.position_embd', 'sam.pos_embd', 'sam.neck.',
  'sam.net_', '.rel_pos', '.patch_embd', '.patch_merger', 'a.rvq.codebook', 'mm.a.code_embd',
];

/** ggml_n_dims: the number of dims up to the last that is not 1 (at least 1). */
export function ggmlDims(dims: readonly number[]): number[] {
  let n = dims.length;
  while (n > 1 && dims[n - 1] === 1) n--;
  return dims.slice(0, Math.max(1, n)).concat(dims.length === 0 ? [1] : []);
}

function allowsQuantization(name: string, nDims: number, o: LlamaQuantOptions): boolean {
  if (nDims < 2) return false;
  if (!name.endsWith('weight')) return false;
  if (o.leaveOutputTensor && name === 'output.weight') return false;
  if (name === 'position_embd.weight' || name === 'token_types.weight') return false;
  return !NEVER_QUANTIZED.some((s) => name.includes(s));
}

/** llama_model_loader's order: tensors outside blocks first, then by block number, each by name (bytewise). */
export function llamaTensorOrder<X extends { readonly name: string }>(tensors: readonly X[]): X[] {
  const layer = (n: string) => {
    const m = /^blk\.\s*([+-]?\d+)/.exec(n);
    return m ? Number(m[1]) : -1;
  };
  const bytes = (s: string) => Array.from(new TextEncoder().encode(s));
  const cmp = (a: string, b: string) => {
    const x = bytes(a);
    const y = bytes(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  };
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || cmp(a.name, b.name));
}

interface Hparams {
  arch: string;
  nLayer: number;
  nGqa: number;
  nExpert: number;
  is70B: boolean;
}

function hparamsOf(metadata: ReadonlyMap<string, GgufValue>): Hparams {
  const arch = metadata.get('general.architecture');
  if (arch?.type !== 'string') throw new QuantError('INVALID_ARGUMENT', 'GGUF: general.architecture is missing: llama.cpp quantizes models it can load, which name their architecture');
  const num = (key: string): number | undefined => {
    const v = metadata.get(`${arch.value}.${key}`);
    if (v === undefined) return undefined;
    if (v.type === 'array' && v.itemType !== 'array' && v.itemType !== 'string' && v.itemType !== 'bool') return Number(v.value[0] ?? 0);
    if (v.type === 'string' || v.type === 'bool' || v.type === 'array') return undefined;
    return Number(v.value);
  };
  const nLayer = num('block_count');
  if (nLayer === undefined) throw new QuantError('INVALID_ARGUMENT', `GGUF: ${arch.value}.block_count is missing`);
  const nHead = num('attention.head_count') ?? 0;
  const nHeadKv = num('attention.head_count_kv') ?? nHead;
  return {
    arch: arch.value,
    nLayer,
    nGqa: nHeadKv === 0 ? 0 : Math.trunc(nHead / nHeadKv),
    nExpert: num('expert_count') ?? 0,
    is70B: arch.value === 'llama' && nLayer === 80 && nHead !== nHeadKv,
  };
}

/**
 * The type llama.cpp gives each tensor of a model (header and metadata as read) in `options.mix`,
 * in the order llama.cpp writes them. Tensors that are not quantized keep their type.
 */
export function planLlamaQuantization(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorInfo[], options: LlamaQuantOptions): LlamaTensorPlan[] {
  const mix = LLAMA_MIXES[options.mix];
  if (mix === undefined) throw new QuantError('INVALID_ARGUMENT', `unknown mix '${String(options.mix)}'; known: ${LLAMA_MIX_NAMES.join(', ')}`);
  const hp = hparamsOf(metadata);
  const defaultType = T(mix.type);
  const ordered = llamaTensorOrder(tensors);
  const state = {
    nAttnV: ordered.filter((t) => isAttnV(categoryOf(t.name))).length,
    iAttnV: 0,
    iFfnDown: 0,
    iFfnGate: 0,
    iFfnUp: 0,
    tied: !ordered.some((t) => categoryOf(t.name) === 'output'),
  };
  return ordered.map((tensor) => {
    const dims = ggmlDims(tensor.dims);
    if (!allowsQuantization(tensor.name, dims.length, options)) return { tensor, dims, type: tensor.type, fallback: false };
    const cat = categoryOf(tensor.name);
    if (options.tokenEmbeddingType && cat === 'token_embd') return { tensor, dims, type: options.tokenEmbeddingType, fallback: false };
    if (options.outputTensorType && cat === 'output') return { tensor, dims, type: options.outputTensorType, fallback: false };
    if (defaultType.blockSize === 1) return { tensor, dims, type: defaultType, fallback: false };
    const chosen = options.pure ? defaultType : ruleType(state, hp, options, tensor, dims, cat, defaultType);
    const type = fallbackType(dims[0]!, chosen);
    return { tensor, dims, type, fallback: type !== chosen };
  });
}

/** tensor_type_fallback: a type whose blocks do not fit the row becomes one whose blocks do, or F16. */
function fallbackType(ncols: number, t: GgmlTypeInfo): GgmlTypeInfo {
  if (ncols % t.blockSize === 0) return t;
  const FALLBACK: Partial<Record<GgmlType, GgmlType>> = {
    IQ1_S: 'IQ4_NL', IQ1_M: 'IQ4_NL', IQ2_XXS: 'IQ4_NL', IQ2_XS: 'IQ4_NL', IQ2_S: 'IQ4_NL', IQ3_XXS: 'IQ4_NL', IQ3_S: 'IQ4_NL', IQ4_XS: 'IQ4_NL',
    Q2_0: 'Q4_0', Q2_K: 'Q4_0', Q3_K: 'Q4_0', TQ1_0: 'Q4_0', TQ2_0: 'Q4_0', Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0',
  };
  const name = FALLBACK[t.name as GgmlType];
  let r: GgmlTypeInfo;
  if (name !== undefined) r = T(name);
  else if (t.blockSize <= 32) r = t;
  else throw new QuantError('UNSUPPORTED', `no fallback type is defined for ${t.name} (rows of ${ncols} values)`);
  return ncols % r.blockSize === 0 ? r : T('F16');
}

const useMoreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;

/**
 * llama_tensor_get_type_impl, for the mixes of LLAMA_MIXES (the IQ1/IQ2/IQ3 mixes' branches are
 * left out). Its attn_qkv branch is not: attn_qkv is attention-v-like, caught by the branch before.
 */
function ruleType(
  s: { nAttnV: number; iAttnV: number; iFfnDown: number; iFfnGate: number; iFfnUp: number; tied: boolean },
  hp: Hparams,
  o: LlamaQuantOptions,
  tensor: GgufTensorInfo,
  dims: readonly number[],
  cat: Category,
  def: GgmlTypeInfo,
): GgmlTypeInfo {
  const mix = o.mix;
  const falcon = hp.arch === 'falcon';
  const layerOf = (counter: number): number => {
    if (hp.nExpert <= 1) return counter;
    const m = /^blk\.\s*([+-]?\d+)\./.exec(tensor.name);
    if (!m) throw new QuantError('MALFORMED_FILE', `GGUF: cannot tell the layer of tensor '${tensor.name}'`);
    const i = Number(m[1]);
    if (i < 0 || i >= hp.nLayer) throw new QuantError('MALFORMED_FILE', `GGUF: tensor '${tensor.name}' names layer ${i}, not in [0, ${hp.nLayer})`);
    return i;
  };
  let t = def;
  if (cat === 'output' || (s.tied && cat === 'token_embd')) {
    // A model without output.weight reuses token_embd as its output, so the output's rule picks its type.
    if (o.outputTensorType) t = o.outputTensorType;
    else if (mix === 'MXFP4_MOE' || falcon || dims[0]! % t.blockSize !== 0) t = T('Q8_0');
    else if (t.name !== 'Q8_0') t = T('Q6_K');
  } else if (mix === 'MXFP4_MOE') {
    t = (tensor.dims[2] ?? 1) > 1 ? T('MXFP4') : T('Q8_0');
  } else if (cat === 'token_embd') {
    if (mix === 'TQ1_0' || mix === 'TQ2_0') t = T('Q4_K');
  } else if (isAttnV(cat)) {
    if (mix === 'Q2_K') t = hp.nGqa >= 4 ? T('Q4_K') : T('Q3_K');
    else if (mix === 'Q2_K_S' && hp.nGqa >= 4) t = T('Q4_K');
    else if (mix === 'Q3_K_M') t = s.iAttnV < 2 ? T('Q5_K') : T('Q4_K');
    else if (mix === 'Q3_K_L') t = T('Q5_K');
    else if ((mix === 'IQ4_NL' || mix === 'IQ4_XS') && hp.nGqa >= 4) t = T('Q5_K');
    else if ((mix === 'Q4_K_M' || mix === 'Q5_K_M') && useMoreBits(s.iAttnV, s.nAttnV)) t = T('Q6_K');
    else if (mix === 'Q4_K_S' && s.iAttnV < 4) t = T('Q5_K');
    if (hp.is70B && (t.name === 'Q3_K' || t.name === 'Q4_K')) t = T('Q5_K');
    if (hp.nExpert === 8) t = T('Q8_0');
    s.iAttnV++;
  } else if (cat === 'attn_k') {
    if (hp.nExpert === 8) t = T('Q8_0');
  } else if (cat === 'ffn_down') {
    const i = layerOf(s.iFfnDown);
    const n = hp.nLayer;
    const n8 = Math.trunc(n / 8);
    if (mix === 'Q2_K') t = T('Q3_K');
    else if (mix === 'Q2_K_S') {
      if (i < n8) t = T('Q4_K');
    } else if (mix === 'Q3_K_M') t = i < Math.trunc(n / 16) ? T('Q5_K') : !falcon || useMoreBits(i, n) ? T('Q4_K') : T('Q3_K');
    else if (mix === 'Q3_K_L') t = falcon ? T('Q4_K') : T('Q5_K');
    else if (mix === 'Q4_K_M') {
      if (falcon) t = i < Math.trunc(n / 16) ? T('Q6_K') : useMoreBits(i, n) ? T('Q5_K') : T('Q4_K');
      else if (useMoreBits(i, n)) t = T('Q6_K');
    } else if (i < n8 && (mix === 'IQ4_NL' || mix === 'IQ4_XS') && !o.hasImatrix) t = T('Q5_K');
    else if (mix === 'Q5_K_M' && useMoreBits(i, n)) t = T('Q6_K');
    else if (mix === 'Q4_K_S' && !falcon && i < n8) t = T('Q5_K');
    else if ((mix === 'Q4_0' || mix === 'Q5_0') && o.hasImatrix && i < n8) t = mix === 'Q4_0' ? T('Q4_1') : T('Q5_1');
    s.iFfnDown++;
  } else if (cat === 'attn_output') {
    if (!falcon) {
      if (hp.nExpert === 8) {
        if (['Q2_K', 'Q3_K_S', 'Q3_K_M', 'IQ4_NL', 'Q4_K_S', 'Q4_K_M', 'IQ4_XS'].includes(mix)) t = T('Q5_K');
      } else if (mix === 'Q2_K') t = T('Q3_K');
      else if (mix === 'Q3_K_M') t = T('Q4_K');
      else if (mix === 'Q3_K_L') t = T('Q5_K');
    } else if (mix === 'Q3_K_L') t = T('Q4_K');
  } else if (cat === 'ffn_gate') {
    layerOf(s.iFfnGate);
    s.iFfnGate++;
  } else if (cat === 'ffn_up') {
    layerOf(s.iFfnUp);
    s.iFfnUp++;
  }
  return t;
}

/** tensor_requires_imatrix, for the mixes here: Q2_K tensors of a Q2_K_S model (other than the embeddings and output). */
export function requiresImatrix(name: string, type: GgmlTypeInfo, mix: LlamaMix): boolean {
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight' || name === 'output.weight') return false;
  if (['IQ3_XXS', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ1_M', 'IQ1_S'].includes(type.name)) return true;
  return type.name === 'Q2_K' && mix === 'Q2_K_S';
}
