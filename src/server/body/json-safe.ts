/**
 * Engine reports hold NaN (no parameters yet) and Infinity (an exact SQNR); JSON has neither.
 * They become null, as pydantic would refuse them and JSON.stringify would silently do anyway.
 */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>, (x) => (Number.isFinite(x) ? x : null));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty: keys can be the client's (layer names), and `out["__proto__"] = x` would set the prototype.
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: jsonSafe(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}
