import { QuantError } from '../core/errors.js';

/**
 * The CPUs an integer (dynamic or static) model must give right answers on.
 *
 * - `portable`: every CPU onnxruntime runs on, x86-64 with or without VNNI and ARM64 alike.
 * - `x86-vnni`: x86-64 CPUs with AVX512-VNNI or AVX-VNNI (and ARM64). Wrong on other x86 CPUs.
 * - `arm64`: ARM64 CPUs (and x86 CPUs with VNNI). Wrong on x86 CPUs without VNNI.
 */
export const QUANTIZE_TARGETS = ['portable', 'x86-vnni', 'arm64'] as const;
export type QuantizeTarget = (typeof QUANTIZE_TARGETS)[number];

/** The integer types of an integer model: what its kernels multiply. */
export interface IntegerTypes {
  readonly target: QuantizeTarget;
  /** Activation codes: DynamicQuantizeLinear always gives uint8; static mode chooses. */
  readonly activations: 'uint8' | 'int8';
  readonly weights: 'uint8' | 'int8';
  readonly weightSymmetric: boolean;
  /** 7-bit weights: int8 codes within [−64, 64] (ONNX Runtime's reduce_range), uint8 within [0, 127]. */
  readonly reduceRange: boolean;
  /** The kernel family onnxruntime runs: U8U8, U8S8 or S8S8 (activation × weight). */
  readonly kernel: 'U8U8' | 'U8S8' | 'S8S8';
  /** Why this choice gives the same, exact, integer sums on the target's CPUs. */
  readonly reason: string;
}

/** What the options say, before the target fills the rest in. */
export interface IntegerRequest {
  readonly target: QuantizeTarget;
  readonly mode: 'dynamic' | 'static';
  /** The weight dtype asked for, or undefined: the target chooses. */
  readonly dtype: 'int8' | 'uint8' | undefined;
  readonly symmetric: boolean | undefined;
  readonly reduceRange: boolean | undefined;
}

/** Largest |pairwise sum| a non-VNNI x86 kernel (vpmaddubsw) can hold: int16. */
export const INT16_MAX = 32767;

/**
 * Chooses activation and weight integer types so that no onnxruntime CPU kernel of the target
 * saturates. The arithmetic behind it (MLAS, onnxruntime's CPU kernels):
 *
 * - x86 without VNNI (SSE4.1, AVX2, AVX-512 without VNNI) multiplies uint8 × int8 with
 *   `vpmaddubsw`, which adds two adjacent products into a SATURATING int16:
 *   |a₁w₁ + a₂w₂| ≤ 255 · 128 · 2 = 65280 > 32767, so sums are clipped (a MatMulInteger of
 *   uint8 255 × int8 127 over K = 64 gives 32 · 32767 = 1048544, not 2072640). VNNI's `vpdpbusd`
 *   adds the four products in int32: exact.
 * - With 7-bit weights (|w| ≤ 64, reduceRange) the pair is at most 255 · 64 · 2 = 32640 ≤ 32767:
 *   exact on every x86 CPU, at one bit of weight precision.
 * - uint8 × uint8 (U8U8) never takes that path: MLAS widens both to int16 and multiplies with
 *   `vpmaddwd` into int32 pairs (at most 255 · 255 · 2 = 130050): exact on every x86 CPU, with
 *   all 8 bits of the weights. Symmetric uint8 weights (zero point 128 in every channel) keep
 *   QLinearConv's rule that per-channel weight zero points are equal.
 * - ARM64 kernels (udot/sdot, or NEON widening to 16 bits) are exact for U8U8, U8S8 and S8S8
 *   with narrow-range int8 weights (|w| ≤ 127, as symmetric int8 weights are here), where even a
 *   pairwise int16 sum of int8 activations stays within 128 · 127 · 2 = 32512.
 *
 * So: `portable` writes U8U8 (symmetric uint8 weights), or 7-bit int8 weights when int8 is asked
 * for; `x86-vnni` writes U8S8 with full-range int8 weights (ONNX Runtime's own default, exact with
 * VNNI); `arm64` writes int8 weights, and int8 activations in static mode (S8S8, ONNX Runtime's
 * recommendation for ARM). Weights are symmetric
 * unless asked otherwise (uint8: zero point 128 in every channel). An explicit int8 with
 * reduceRange false under `portable` cannot be right on every CPU and is refused.
 */
export function chooseIntegerTypes(r: IntegerRequest): IntegerTypes {
  const staticInt8Acts = r.mode === 'static' && (r.target === 'arm64' || (r.dtype === 'int8' && r.target === 'portable'));
  const activations = staticInt8Acts ? 'int8' : 'uint8';
  if (r.target === 'portable') {
    const weights = r.dtype ?? 'uint8';
    if (weights === 'int8') {
      if (r.reduceRange === false) {
        throw new QuantError(
          'INVALID_CONFIG',
          'target portable with int8 weights needs reduceRange: full-range int8 weights saturate the int16 pair sums of x86 CPUs without VNNI (255 * 127 * 2 > 32767); use uint8 weights, reduceRange, or target x86-vnni',
        );
      }
      return {
        target: r.target,
        activations,
        weights,
        weightSymmetric: r.symmetric ?? true,
        reduceRange: true,
        kernel: activations === 'int8' ? 'S8S8' : 'U8S8',
        reason: 'int8 weights reduced to 7 bits (|w| <= 64): x86 CPUs without VNNI add products in pairs in int16, and 255 * 64 * 2 = 32640 fits, so every CPU gives the exact sums',
      };
    }
    return {
      target: r.target,
      activations: 'uint8',
      weights,
      weightSymmetric: r.symmetric ?? true,
      reduceRange: r.reduceRange ?? false,
      kernel: 'U8U8',
      reason: 'onnxruntime multiplies uint8 x uint8 in 16-bit lanes into int32 on every CPU: exact, with all 8 bits of the weights (uint8 x int8 would saturate on x86 CPUs without VNNI)',
    };
  }
  const weights = r.dtype ?? 'int8';
  const kernel = weights === 'uint8' ? 'U8U8' : activations === 'int8' ? 'S8S8' : 'U8S8';
  const where = r.target === 'x86-vnni' ? 'x86 CPUs with VNNI (and ARM64)' : 'ARM64 (and x86 CPUs with VNNI)';
  return {
    target: r.target,
    activations: weights === 'uint8' ? 'uint8' : activations,
    weights,
    weightSymmetric: r.symmetric ?? true,
    reduceRange: r.reduceRange ?? false,
    kernel,
    reason:
      kernel === 'U8U8'
        ? 'uint8 x uint8 is exact on every CPU'
        : `full-range int8 weights: exact on ${where}; WRONG on x86 CPUs without VNNI, whose int16 pair sums saturate (255 * 127 * 2 > 32767)`,
  };
}

/** One line for summaries: "portable: U8U8 (uint8 activations, uint8 symmetric weights)". */
export function describeIntegerTypes(t: IntegerTypes): string {
  const w = `${t.weights}${t.reduceRange ? ' 7-bit' : ''} ${t.weightSymmetric ? 'symmetric' : 'asymmetric'} weights`;
  return `target ${t.target}: ${t.kernel} (${t.activations} activations, ${w}): ${t.reason}`;
}

/** What quantkit knows of a CPU: its architecture (Node's os.arch()) and, where readable, its feature flags. */
export interface CpuDescription {
  readonly arch: string;
  /** Lower-case flags as Linux's /proc/cpuinfo names them (avx2, avx512_vnni, avx_vnni, ...); undefined when unknown. */
  readonly flags?: ReadonlySet<string>;
  readonly model?: string;
}

/** True when the CPU adds uint8 x int8 products in int32 (VNNI), false when it pairs them in int16, undefined when unknown. */
export function hasVnni(cpu: CpuDescription): boolean | undefined {
  if (cpu.arch !== 'x64' && cpu.arch !== 'ia32') return undefined;
  if (!cpu.flags) return undefined;
  return cpu.flags.has('avx512_vnni') || cpu.flags.has('avx_vnni');
}

/**
 * A warning when a model of these integer types gives wrong answers on this CPU (an x86 CPU
 * without VNNI running full-range uint8 x int8), or when that cannot be told (an x86 CPU whose
 * flags are unknown); undefined when the model is exact here. The model is written all the same:
 * it is meant for the target's CPUs, which need not be this one.
 */
export function targetWarning(t: IntegerTypes, cpu: CpuDescription): string | undefined {
  if (t.kernel === 'U8U8' || t.reduceRange) return undefined;
  if (cpu.arch !== 'x64' && cpu.arch !== 'ia32') return undefined;
  const vnni = hasVnni(cpu);
  const here = cpu.model ? `this CPU (${cpu.model})` : 'this CPU';
  if (vnni === true) return undefined;
  if (vnni === undefined) return `target ${t.target} writes full-range ${t.kernel} kernels, exact only on x86 CPUs with VNNI; ${here} does not say whether it has VNNI. Use --target portable for a model right on every CPU`;
  return `target ${t.target} model is WRONG on ${here}: it has no VNNI, so onnxruntime's ${t.kernel} kernels saturate their int16 pair sums here. Use --target portable for a model right on every CPU`;
}
