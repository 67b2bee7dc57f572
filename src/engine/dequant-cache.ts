import type { CodeArray } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import type { BlockLayout } from '../core/layout.js';

const f32 = Math.fround;

/**
 * An LRU of dequantization lookup tables, one per (storage, scale, zeroPoint): for codes of 8 bits
 * or fewer every code has one of 256 byte patterns, so
 *
 *   table[u] = fround((q(u) − zeroPoint) · scale),  q(u) = u (uint8) or u − 256·(u ≥ 128) (int8)
 *
 * and dequantizing is out[i] = table[byte i]. The entries are computed with the formula of the
 * dequantize kernel (one exact product rounded once to float32), so the results are bit-identical.
 * Not the reference's per-value LRU, whose bookkeeping per element costs more than the multiply it saves.
 * A hit or a miss is counted per table lookup (one per call per-tensor, one per channel per-channel).
 */
export class DequantCache {
  private readonly tables = new Map<string, Float32Array>();
  private cap: number;
  hits = 0;
  misses = 0;

  constructor(capacity: number) {
    this.cap = checkCapacity(capacity);
  }

  get capacity(): number {
    return this.cap;
  }

  get size(): number {
    return this.tables.size;
  }

  /** The table for int8 or uint8 storage codes with this scale and zero point (built on a miss). */
  table(signed: boolean, scale: number, zeroPoint: number): Float32Array {
    // A float32 scale prints to a distinct shortest decimal, so the string key is exact.
    const key = `${signed ? 'i' : 'u'}${scale}:${zeroPoint}`;
    const hit = this.tables.get(key);
    if (hit) {
      this.hits++;
      // Map iteration order is insertion order: re-inserting makes this the most recently used.
      this.tables.delete(key);
      this.tables.set(key, hit);
      return hit;
    }
    this.misses++;
    const t = buildDequantTable(signed, scale, zeroPoint);
    this.tables.set(key, t);
    if (this.tables.size > this.cap) this.tables.delete(this.tables.keys().next().value as string);
    return t;
  }

  resize(capacity: number): void {
    this.cap = checkCapacity(capacity);
    while (this.tables.size > this.cap) this.tables.delete(this.tables.keys().next().value as string);
  }

  clear(): void {
    this.tables.clear();
  }
}

function checkCapacity(capacity: number): number {
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new QuantError('INVALID_ARGUMENT', `cache capacity must be a positive integer, got ${capacity}`);
  }
  return capacity;
}

/** The 256-entry table indexed by the unsigned byte of a code. */
export function buildDequantTable(signed: boolean, scale: number, zeroPoint: number): Float32Array {
  const t = new Float32Array(256);
  for (let u = 0; u < 256; u++) {
    const q = signed && u >= 128 ? u - 256 : u;
    t[u] = f32((q - zeroPoint) * scale);
  }
  return t;
}

/** The codes' bytes, so int8 and uint8 both index a table without a sign fix-up per element. */
function bytesOf(codes: Int8Array | Uint8Array): Uint8Array {
  return codes instanceof Uint8Array ? codes : new Uint8Array(codes.buffer, codes.byteOffset, codes.length);
}

/**
 * Dequantizes 8-bit-storage codes through tables: `tableFor(p)` gives parameter p's table.
 * Walks the layout's rows (see BlockLayout): a row uses one parameter, or, when parameters vary
 * along the row (channels contiguous), one table per element position.
 */
export function dequantizeWithTables(
  codes: CodeArray,
  layout: BlockLayout,
  tableFor: (p: number) => Float32Array,
  out: Float32Array,
): void {
  if (!(codes instanceof Int8Array || codes instanceof Uint8Array)) {
    throw new QuantError('INVALID_ARGUMENT', `lookup-table dequantization needs 8-bit codes, got ${codes.constructor.name}`);
  }
  const u = bytesOf(codes);
  const n = u.length;
  if (layout.paramCount === 1) {
    const t = tableFor(0);
    for (let i = 0; i < n; i++) out[i] = t[u[i]];
    return;
  }
  const { inner, axisLen, blockSize, paramOuterStride, varyInner } = layout;
  if (varyInner) {
    // Parameters run along the row: gather each position's table once per distinct row base.
    const flat = new Float32Array(layout.paramCount * 256);
    for (let p = 0; p < layout.paramCount; p++) flat.set(tableFor(p), p * 256);
    for (let g = 0, r = 0; g < n; r++) {
      const o = Math.floor(r / axisLen);
      const base = o * paramOuterStride + Math.floor((r - o * axisLen) / blockSize) * inner;
      const end = Math.min(g + inner, n);
      for (let i = 0; g < end; g++, i++) out[g] = flat[((base + i) << 8) | u[g]];
    }
    return;
  }
  const tables: Float32Array[] = new Array(layout.paramCount);
  for (let p = 0; p < layout.paramCount; p++) tables[p] = tableFor(p);
  for (let g = 0, r = 0; g < n; r++) {
    const o = Math.floor(r / axisLen);
    const t = tables[o * paramOuterStride + Math.floor((r - o * axisLen) / blockSize)];
    const end = Math.min(g + inner, n);
    for (; g < end; g++) out[g] = t[u[g]];
  }
}
