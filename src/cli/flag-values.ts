import { UsageError } from './exit-codes.js';

/**
 * Checks of commander's raw flag values, each a plain function that returns the value or throws a
 * UsageError naming the flag. The array commands validate their flags with these rather than zod
 * schemas: building zod's classes costs ~50 ms of start-up on every run, more than the work of a
 * small file (the configuration contract's zod schemas load only where a config is read).
 */

/** An integer flag (`--axis -1`), as a number; undefined when not given. */
export function integerFlag(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!/^[+-]?\d+$/.test(s)) throw new UsageError(`${flag} expects an integer, got '${s}'`);
  return Number(s);
}

/** An integer flag within [min, max]. */
export function boundedIntegerFlag(flag: string, v: unknown, min: number, max: number): number | undefined {
  const n = integerFlag(flag, v);
  if (n !== undefined && (n < min || n > max)) throw new UsageError(`${flag} must be in ${min}..${max}, got ${String(v)}`);
  return n;
}

/** A flag taking one of a fixed list of words; `message` says what was expected. */
export function choiceFlag<T extends string>(v: unknown, choices: readonly T[], message: (got: string) => string): T | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!(choices as readonly string[]).includes(s)) throw new UsageError(message(s));
  return s as T;
}

/** A decimal number flag (`--percentile 99.9`). */
export function numberFlag(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) throw new UsageError(`${flag} expects a number, got '${s}'`);
  return Number(s);
}

/** A path flag: given, it must not be empty. */
export function pathFlag(v: unknown, message: string): string | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (s.length === 0) throw new UsageError(message);
  return s;
}

/** A switch (`--symmetric`): commander gives true or leaves it undefined. */
export function switchFlag(v: unknown): boolean {
  return v === true;
}
