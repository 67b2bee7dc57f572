import { z } from 'zod';
import type { QuantDtypeName } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import type { LayerOverride, QuantizerConfig } from '../engine/config.js';
import { formatConfigIssues, parseQuantizerConfig } from '../engine/config.js';
import { resolveLayerConfig } from '../engine/layer-config.js';

/**
 * Quantization-aware training settings, in the engine's vocabulary: `quantizationType`, `numBits`,
 * `symmetric`, `perChannel` and the per-layer map `customQuantizationConfig` mean what they mean
 * to the Quantizer (resolved by the engine's resolveLayerConfig), plus what only training has.
 *
 * Weights follow `symmetric` and `perChannel` (defaults true and true: PyTorch's default QAT
 * weight scheme, per output channel); activations are per-tensor and asymmetric (PyTorch's
 * default activation scheme), with the layer's dtype.
 */
export interface QatConfigInput {
  /** INT8 (default), UINT8, INT16, INT4 or UINT4 (lower case accepted). */
  readonly quantizationType?: string;
  /** Bits per code, at most the type's width (INT8 with numBits 2 gives int2). */
  readonly numBits?: number;
  readonly symmetric?: boolean;
  readonly perChannel?: boolean;
  /** Layer name → { quantizationType?, numBits?, symmetric?, perChannel? }. */
  readonly customQuantizationConfig?: Readonly<Record<string, LayerOverride>>;
  /** 'lsq': scales (and asymmetric zero points) are trained (LSQ); null (default): observers set them. */
  readonly learnable?: 'lsq' | null;
  /** Learning rate of the LSQ scales (plain SGD, as a parameter group of their own). Default 0.01. */
  readonly scaleLr?: number;
  /**
   * How LSQ's learnable scales start: 'observer' (default; the observer's min/max scale, as
   * PyTorch's _LearnableFakeQuantize) or 'mean-abs' (the LSQ paper's 2·mean|x| / √Q_P, with Q_P
   * the levels above the observer's zero point: qmax for symmetric weights, qmax − qmin after a ReLU).
   */
  readonly lsqInit?: 'observer' | 'mean-abs';
  /** Learning rate of the LSQ zero points. Default 0.01. */
  readonly zeroPointLr?: number;
  /** Training steps after which the observers stop updating; null: never (LSQ default: 1). */
  readonly freezeObserversAfter?: number | null;
  /** Training steps after which BatchNorm uses and keeps its running statistics; null: never. */
  readonly freezeBatchNormAfter?: number | null;
  /** The moving-average observers' constant c in min ← min + c·(batchMin − min). Default 0.01. */
  readonly averagingConstant?: number;
}

const steps = z.number({ error: 'expected a whole number of steps or null' }).int({ error: 'expected a whole number of steps or null' }).min(0, { error: 'expected a whole number of steps or null' }).nullable();
const rate = z.number({ error: 'expected a learning rate >= 0' }).min(0, { error: 'expected a learning rate >= 0' }).refine(Number.isFinite, { error: 'expected a finite learning rate' });

const qatOnlySchema = z.strictObject({
  learnable: z.enum(['lsq'], { error: "expected 'lsq' or null" }).nullable().default(null),
  scaleLr: rate.default(0.01),
  lsqInit: z.enum(['observer', 'mean-abs'], { error: "expected 'observer' or 'mean-abs'" }).default('observer'),
  zeroPointLr: rate.default(0.01),
  freezeObserversAfter: steps.optional(),
  freezeBatchNormAfter: steps.default(null),
  averagingConstant: z.number({ error: 'expected a number in (0, 1]' }).gt(0, { error: 'expected a number in (0, 1]' }).max(1, { error: 'expected a number in (0, 1]' }).default(0.01),
});

const ENGINE_FIELDS = ['quantizationType', 'numBits', 'symmetric', 'perChannel', 'customQuantizationConfig'] as const;

/** A validated QAT config; treat as immutable. */
export interface QatConfig {
  readonly engine: QuantizerConfig;
  readonly learnable: 'lsq' | null;
  readonly scaleLr: number;
  readonly lsqInit: 'observer' | 'mean-abs';
  readonly zeroPointLr: number;
  readonly freezeObserversAfter: number | null;
  readonly freezeBatchNormAfter: number | null;
  readonly averagingConstant: number;
}

/** How one tensor (a layer's weight or its output activation) is fake-quantized. */
export interface TensorScheme {
  readonly dtype: QuantDtypeName;
  readonly symmetric: boolean;
  /** Per output channel (the last axis, in TensorFlow.js layouts) or per tensor. */
  readonly perChannel: boolean;
}

/** Validates a QAT config (every field optional); throws INVALID_CONFIG naming each bad field. */
export function parseQatConfig(input: unknown = {}): QatConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new QuantError('INVALID_CONFIG', 'config: expected an object');
  const src = input as Record<string, unknown>;
  const engineInput: Record<string, unknown> = { symmetric: true, perChannel: true };
  const rest: Record<string, unknown> = {};
  for (const key of Object.keys(src)) {
    if ((ENGINE_FIELDS as readonly string[]).includes(key)) engineInput[key] = src[key];
    else rest[key] = src[key];
  }
  const engine = parseQuantizerConfig(engineInput);
  const r = qatOnlySchema.safeParse(rest, { reportInput: true });
  if (!r.success) throw new QuantError('INVALID_CONFIG', formatConfigIssues(r.error));
  const learnable = r.data.learnable;
  const config: QatConfig = {
    engine,
    learnable,
    scaleLr: r.data.scaleLr,
    lsqInit: r.data.lsqInit,
    zeroPointLr: r.data.zeroPointLr,
    // LSQ learns only once the observers stop overwriting the parameters (PyTorch's static observation, then learning).
    freezeObserversAfter: r.data.freezeObserversAfter === undefined ? (learnable === 'lsq' ? 1 : null) : r.data.freezeObserversAfter,
    freezeBatchNormAfter: r.data.freezeBatchNormAfter,
    averagingConstant: r.data.averagingConstant,
  };
  return Object.freeze(config);
}

function integerDtype(config: QatConfig, layer: string, role: 'weight' | 'activation'): ReturnType<typeof resolveLayerConfig> {
  const eff = resolveLayerConfig(config.engine, layer, role);
  if (eff.dtype === null) {
    throw new QuantError('INVALID_CONFIG', `layer '${layer}': quantization-aware training needs an integer type, got ${eff.quantizationType}`);
  }
  return eff;
}

/** The weight scheme of a layer: its dtype, symmetric and perChannel as the engine resolves them. */
export function weightScheme(config: QatConfig, layer: string): TensorScheme {
  const eff = integerDtype(config, layer, 'weight');
  return { dtype: eff.dtype as QuantDtypeName, symmetric: eff.symmetric, perChannel: eff.perChannel };
}

/** The scheme of a layer's output activation: the layer's dtype, asymmetric, per tensor. */
export function activationScheme(config: QatConfig, layer: string): TensorScheme {
  const eff = integerDtype(config, layer, 'activation');
  return { dtype: eff.dtype as QuantDtypeName, symmetric: false, perChannel: false };
}
