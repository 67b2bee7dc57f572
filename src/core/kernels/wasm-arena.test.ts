import { describe, expect, it } from 'vitest';
import { isQuantError } from '../errors.js';
import { createWasmArena } from './wasm-arena.js';
import { isWasmArray, sharedWasmMemory, WASM_ALIGN, WasmHeap, wasmHeap } from './wasm-memory.js';

function span(a: ArrayBufferView): [number, number] {
  return [a.byteOffset, a.byteOffset + a.byteLength];
}

describe('WasmHeap', () => {
  it('aligns, never overlaps, reuses freed ranges and coalesces them', () => {
    const heap = new WasmHeap(wasmHeap()!.topAddress + 100);
    const a = heap.alloc(10);
    const b = heap.alloc(100);
    const c = heap.alloc(64);
    for (const p of [a, b, c]) expect(p % WASM_ALIGN).toBe(0);
    expect(b).toBeGreaterThanOrEqual(a + 64);
    expect(c).toBeGreaterThanOrEqual(b + 128);
    heap.release(b);
    // First fit: a small allocation lands in b's hole.
    expect(heap.alloc(30)).toBe(b);
    heap.release(a);
    heap.release(b);
    // a and b's holes coalesce into one 192-byte range.
    expect(heap.alloc(192)).toBe(a);
    expect(heap.usedBytes).toBe(192 + 64);
  });

  it('lowers its top when the highest allocation is freed, and rejects double frees', () => {
    const heap = new WasmHeap(1 << 20);
    const a = heap.alloc(1000);
    const top = heap.topAddress;
    const b = heap.alloc(5000);
    heap.release(b);
    expect(heap.topAddress).toBe(top);
    heap.release(a);
    expect(heap.topAddress).toBe(1 << 20);
    let code: string | undefined;
    try {
      heap.release(a);
    } catch (e) {
      code = isQuantError(e) ? e.code : undefined;
    }
    expect(code).toBe('INVALID_ARGUMENT');
  });
});

describe('createWasmArena', () => {
  it('hands out aligned, disjoint arrays that live in the shared kernel memory', () => {
    const arena = createWasmArena();
    expect(arena.inWasmMemory).toBe(true);
    const arrays = [arena.float32(3), arena.codes('int8', 5), arena.codes('uint16', 7), arena.uint8(1), arena.int32(9), arena.float32(0)];
    const spans = arrays.map(span).sort((p, q) => p[0] - q[0]);
    for (const a of arrays) {
      expect(a.byteOffset % 64).toBe(0);
      expect(isWasmArray(a)).toBe(true);
    }
    for (let k = 1; k < spans.length; k++) expect(spans[k][0]).toBeGreaterThanOrEqual(spans[k - 1][1]);
    expect(arrays[1]).toBeInstanceOf(Int8Array);
    expect(arrays[2]).toBeInstanceOf(Uint16Array);
    expect(arena.bytes).toBe(6 * 64);
    arena.free();
  });

  it('reuses its space after reset, and refuses to allocate after free', () => {
    const arena = createWasmArena();
    const first = arena.float32(1000);
    arena.reset();
    expect(arena.bytes).toBe(0);
    expect(arena.float32(1000).byteOffset).toBe(first.byteOffset);
    arena.free();
    expect(() => arena.float32(1)).toThrow(/freed/);
  });

  it('keeps old views valid when the memory grows', () => {
    const arena = createWasmArena();
    const x = arena.float32(16);
    x.set([1, 2, 3]);
    const before = sharedWasmMemory()!.buffer.byteLength;
    const big = arena.uint8(before + 1);
    expect(sharedWasmMemory()!.buffer.byteLength).toBeGreaterThan(before);
    big[big.length - 1] = 9;
    expect(Array.from(x.subarray(0, 3))).toEqual([1, 2, 3]);
    x[3] = 4;
    expect(new Float32Array(sharedWasmMemory()!.buffer, x.byteOffset, 4)[3]).toBe(4);
    arena.free();
  });

  it('rejects bad lengths and storages', () => {
    const arena = createWasmArena();
    expect(() => arena.float32(-1)).toThrow(/whole number/);
    expect(() => arena.float32(1.5)).toThrow(/whole number/);
    expect(() => arena.codes('int4' as 'int8', 2)).toThrow(/code storage/);
    arena.free();
  });

  it('ordinary heap arrays are not taken for WASM memory', () => {
    expect(isWasmArray(new Float32Array(4))).toBe(false);
    expect(isWasmArray(new Float32Array(new SharedArrayBuffer(16)))).toBe(false);
  });
});
