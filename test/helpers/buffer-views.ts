/**
 * Byte arrays as servers and file readers really hand them over: Node Buffers that are views at
 * a non-zero offset into a larger allocation. A decoder that ignores byteOffset, or reads past
 * byteLength, sees the sentinel bytes around the view instead of its input.
 */

/** What surrounds each view: a pattern no fixture's data contains four times in a row. */
export const SENTINEL = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);

/** A copy of `bytes` viewed at byte `offset` of a Buffer whose other bytes repeat SENTINEL. */
export function viewAt(bytes: Uint8Array, offset: number, after = 67): Buffer {
  const whole = Buffer.alloc(offset + bytes.length + after);
  for (let i = 0; i < whole.length; i++) whole[i] = SENTINEL[i % SENTINEL.length];
  whole.set(bytes, offset);
  return whole.subarray(offset, offset + bytes.length);
}

/**
 * A copy of `bytes` in a slice of Node's shared allocation pool (as Buffer.concat gives a small
 * request body), after `skew` bytes of SENTINEL allocated from the same pool. Larger inputs get a
 * view at offset `skew` of their own memory, so either way byteOffset is not 0.
 */
export function pooledCopy(bytes: Uint8Array, skew = 3): Buffer {
  if (bytes.length + skew + 8 >= Buffer.poolSize >>> 1) return viewAt(bytes, skew);
  const before = Buffer.allocUnsafe(skew + 8);
  for (let i = 0; i < before.length; i++) before[i] = SENTINEL[i % SENTINEL.length];
  const b = Buffer.concat([bytes]);
  // A fresh pool page would put the copy at offset 0; retry once, then fall back to viewAt.
  if (b.byteOffset === 0) return b.length < Buffer.poolSize >>> 2 ? pooledCopy(bytes, skew) : viewAt(bytes, skew);
  return b;
}

/** True if `data` (any typed array) contains SENTINEL as four consecutive bytes. */
export function containsSentinel(data: ArrayBufferView): boolean {
  const b = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i + SENTINEL.length <= b.length; i++) {
    if (b[i] === SENTINEL[0] && b[i + 1] === SENTINEL[1] && b[i + 2] === SENTINEL[2] && b[i + 3] === SENTINEL[3]) return true;
  }
  return false;
}
