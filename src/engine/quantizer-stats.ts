/**
 * The reference's nine statistics (StatsResponse), camelCase, plus what the engine adds:
 * requantizations (CALIBRATED with enableRequantization) and nonFiniteValues (NaN/Inf let through
 * when errorOnNan/errorOnInf are off). lastScale/lastZeroPoint are those of parameter 0 of the last
 * quantize (the only one per-tensor; channel or row 0 otherwise); NaN before any quantize.
 */
export interface QuantizerStats {
  clippedValues: number;
  totalValues: number;
  quantizeCalls: number;
  dequantizeCalls: number;
  /** Always 0: kept for the contract's StatsResponse; there is no dequantization table cache. */
  cacheHits: number;
  /** Always 0, as cacheHits. */
  cacheMisses: number;
  lastScale: number;
  lastZeroPoint: number;
  processingTimeMs: number;
  requantizations: number;
  nonFiniteValues: number;
}

export function emptyStats(): QuantizerStats {
  return {
    clippedValues: 0,
    totalValues: 0,
    quantizeCalls: 0,
    dequantizeCalls: 0,
    cacheHits: 0,
    cacheMisses: 0,
    lastScale: NaN,
    lastZeroPoint: NaN,
    processingTimeMs: 0,
    requantizations: 0,
    nonFiniteValues: 0,
  };
}

/** The statistics that count calls (all but the always-zero cache fields): what stores keep and add up. */
export type CallCounts = Omit<QuantizerStats, 'cacheHits' | 'cacheMisses'>;

/**
 * Adds the counts of a call made on a fresh copy (`delta`) to `into`; its last scale and zero point
 * replace these when it set them (fresh statistics hold NaN until a quantize with parameters).
 */
export function addCallStats(into: CallCounts, delta: CallCounts): void {
  into.clippedValues += delta.clippedValues;
  into.totalValues += delta.totalValues;
  into.quantizeCalls += delta.quantizeCalls;
  into.dequantizeCalls += delta.dequantizeCalls;
  into.requantizations += delta.requantizations;
  into.nonFiniteValues += delta.nonFiniteValues;
  into.processingTimeMs += delta.processingTimeMs;
  if (!Number.isNaN(delta.lastScale)) {
    into.lastScale = delta.lastScale;
    into.lastZeroPoint = delta.lastZeroPoint;
  }
}

/** snake_case names of the HTTP contract's StatsResponse (and of the two extra fields). */
export const STATS_FIELD_NAMES = {
  clippedValues: 'clipped_values',
  totalValues: 'total_values',
  quantizeCalls: 'quantize_calls',
  dequantizeCalls: 'dequantize_calls',
  cacheHits: 'cache_hits',
  cacheMisses: 'cache_misses',
  lastScale: 'last_scale',
  lastZeroPoint: 'last_zero_point',
  processingTimeMs: 'processing_time_ms',
  requantizations: 'requantizations',
  nonFiniteValues: 'non_finite_values',
} as const satisfies Record<keyof QuantizerStats, string>;
