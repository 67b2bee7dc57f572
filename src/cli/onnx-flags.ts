import { z } from 'zod';
import { FLOAT_TARGETS_SHARE, isBlockSize, QUANTIZE_TARGETS } from '../onnx/quantize-choices.js';

/**
 * Flags the `onnx` subcommands share, checked as usage errors (exit 2) before any model is read:
 * a bad value is a mistake in the command line, whatever file it is applied to.
 */
export const onnxFlags = {
  /** --block-size: 4-bit blocks along the reduction axis, as quantizeModel's blockSize. */
  blockSize: z
    .string()
    .regex(/^\d+$/, { error: (i) => `--block-size expects an integer, got '${String(i.input)}'` })
    .transform(Number)
    .refine(isBlockSize, { error: (i) => `--block-size expects a power of two >= 16 (16, 32, 64, ...), got ${String(i.input)}` })
    .optional(),
  /** --op-types MatMul,Gemm: a non-empty comma-separated list. */
  opTypes: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .refine((l) => l.length > 0, { error: '--op-types expects a comma-separated list such as MatMul,Gemm,Conv' })
    .optional(),
  exclude: z.array(z.string()).optional(),
  /** --damp: GPTQ dampening, a fraction of the Hessian's mean diagonal in [0, 1]. */
  damp: z
    .string()
    .regex(/^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/, { error: (i) => `--damp expects a number in [0, 1], got '${String(i.input)}'` })
    .transform(Number)
    .refine((v) => v >= 0 && v <= 1, { error: (i) => `--damp expects a number in [0, 1], got ${String(i.input)}` })
    .optional(),
  /** --float-targets [share]: GPTQ fitted to the float model; the flag alone takes FLOAT_TARGETS_SHARE. */
  floatTargets: z
    .preprocess(
      (v) => (v === true ? String(FLOAT_TARGETS_SHARE) : v),
      z
        .string()
        .regex(/^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/, { error: (i) => `--float-targets expects a number in (0, 1], got '${String(i.input)}'` })
        .transform(Number)
        .refine((v) => v > 0 && v <= 1, { error: (i) => `--float-targets expects a number in (0, 1], got ${String(i.input)}` }),
    )
    .optional(),
  /** --target portable | x86-vnni | arm64: the CPUs an integer model must be right on. */
  target: z.enum(QUANTIZE_TARGETS, { error: (i) => `--target expects ${QUANTIZE_TARGETS.join(' | ')}, got '${String(i.input)}'` }).optional(),
};

/** A warning on stderr, prefixed as every quantkit diagnostic line is. */
export function warningLine(message: string): string {
  return `quantkit: warning: ${message}\n`;
}
