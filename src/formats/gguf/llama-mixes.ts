import type { GgmlType } from '../../core/ggml/ggml-types.js';

// Apart from llama-quant-plan.ts (the rules, which need every quantizer's block sizes): the mix
// names are what `quantkit gguf quantize --help` lists, with no quantizer loaded.

/** Each mix: its llama_ftype (written to general.file_type) and its default tensor type. */
export const LLAMA_MIXES = {
  F32: { ftype: 0, type: 'F32' },
  F16: { ftype: 1, type: 'F16' },
  Q4_0: { ftype: 2, type: 'Q4_0' },
  Q4_1: { ftype: 3, type: 'Q4_1' },
  Q8_0: { ftype: 7, type: 'Q8_0' },
  Q5_0: { ftype: 8, type: 'Q5_0' },
  Q5_1: { ftype: 9, type: 'Q5_1' },
  Q2_K: { ftype: 10, type: 'Q2_K' },
  Q3_K_S: { ftype: 11, type: 'Q3_K' },
  Q3_K_M: { ftype: 12, type: 'Q3_K' },
  Q3_K_L: { ftype: 13, type: 'Q3_K' },
  Q4_K_S: { ftype: 14, type: 'Q4_K' },
  Q4_K_M: { ftype: 15, type: 'Q4_K' },
  Q5_K_S: { ftype: 16, type: 'Q5_K' },
  Q5_K_M: { ftype: 17, type: 'Q5_K' },
  Q6_K: { ftype: 18, type: 'Q6_K' },
  Q2_K_S: { ftype: 21, type: 'Q2_K' },
  IQ4_NL: { ftype: 25, type: 'IQ4_NL' },
  IQ4_XS: { ftype: 30, type: 'IQ4_XS' },
  BF16: { ftype: 32, type: 'BF16' },
  TQ1_0: { ftype: 36, type: 'TQ1_0' },
  TQ2_0: { ftype: 37, type: 'TQ2_0' },
  MXFP4_MOE: { ftype: 38, type: 'MXFP4' },
} as const satisfies Record<string, { ftype: number; type: GgmlType }>;

export type LlamaMix = keyof typeof LLAMA_MIXES;
export const LLAMA_MIX_NAMES = Object.keys(LLAMA_MIXES) as LlamaMix[];
