import fc from 'fast-check';
import { expect } from 'vitest';
import { QuantError, type QuantErrorCode } from '../../src/core/errors.js';

/**
 * Shared pieces of the loaders' property tests: what "a value or a typed error" means, and
 * mutations of valid files (truncation, bit flips, overwritten and inserted bytes).
 */

/** The codes a parser of untrusted bytes may throw: the file is bad, or holds what quantkit does not read. */
export const FILE_ERROR_CODES: readonly QuantErrorCode[] = ['MALFORMED_FILE', 'UNSUPPORTED'];

/**
 * Runs fn: its value, or undefined when it threw a QuantError of one of `codes` with a one-line
 * message. Any other throw (TypeError, RangeError, a bare Error) fails the property with it.
 */
export function valueOrFileError<T>(fn: () => T, codes: readonly QuantErrorCode[] = FILE_ERROR_CODES): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof QuantError)) throw new Error(`expected a value or a QuantError, got ${String(e)}`, { cause: e });
    expect(codes).toContain(e.code);
    expect(e.message).not.toContain('\n');
    return undefined;
  }
}

/** The async form of valueOrFileError. */
export async function valueOrFileErrorAsync<T>(fn: () => Promise<T>, codes: readonly QuantErrorCode[] = FILE_ERROR_CODES): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof QuantError)) throw new Error(`expected a value or a QuantError, got ${String(e)}`, { cause: e });
    expect(codes).toContain(e.code);
    expect(e.message).not.toContain('\n');
    return undefined;
  }
}

type Edit =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x27, 0x2c, 0x28, 0x29, 0x7b, 0x7d, 0x22, 0x5b, 0x5d) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
);

function apply(bytes: Uint8Array, e: Edit): Uint8Array {
  const n = bytes.length;
  const at = n === 0 ? 0 : e.at % (n + (e.kind === 'insert' ? 1 : 0));
  switch (e.kind) {
    case 'flip': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      out[at] ^= 1 << e.bit;
      return out;
    }
    case 'set': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      out[at] = e.value;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'insert': {
      const out = new Uint8Array(n + e.bytes.length);
      out.set(bytes.subarray(0, at));
      out.set(e.bytes, at);
      out.set(bytes.subarray(at), at + e.bytes.length);
      return out;
    }
    case 'delete': {
      const end = Math.min(n, at + e.n);
      const out = new Uint8Array(n - (end - at));
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(end), at);
      return out;
    }
    case 'overwrite': {
      const out = bytes.slice();
      out.set(e.bytes.subarray(0, Math.max(0, n - at)), at);
      return out;
    }
  }
}

/** One of `files`, changed by 1 to 4 edits: mostly-valid bytes that reach deep into a parser. */
export function mutationOf(files: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...files), fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([file, edits]) => edits.reduce(apply, Uint8Array.from(file)));
}

/** Random bytes, or a valid file's prefix followed by random bytes. */
export function garbageOf(files: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    fc.tuple(fc.constantFrom(...files), fc.nat(), fc.uint8Array({ maxLength: 64 })).map(([f, k, tail]) => {
      const cut = f.subarray(0, k % (f.length + 1));
      const out = new Uint8Array(cut.length + tail.length);
      out.set(cut);
      out.set(tail, cut.length);
      return out;
    }),
  );
}

/**
 * Seed and runs of the loaders' property tests: fixed, so a failure replays. FUZZ_SEED and
 * FUZZ_RUNS explore further by hand (e.g. FUZZ_SEED=$RANDOM FUZZ_RUNS=5000 npx vitest run …).
 */
export const FUZZ = {
  seed: Number(process.env.FUZZ_SEED ?? 20261207),
  numRuns: Number(process.env.FUZZ_RUNS ?? 400),
} as const;
