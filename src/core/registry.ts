import type { QuantErrorCode } from './errors.js';
import { QuantError } from './errors.js';

/**
 * A keyed table, created empty and filled in one explicit place (importing a module registers
 * nothing). Registering a key twice and looking up an unknown key are errors; the latter lists the
 * known keys. An alias is an old spelling that still resolves to a registered key; `keys()` lists
 * the registered keys only, so every list derived from a registry shows one name per entry.
 *
 * Example: new Registry<'a' | 'b', number>('widget').register('a', 1).alias('first', 'a').get('first') === 1
 */
export class Registry<K extends string, V> {
  private readonly entries = new Map<K, V>();
  private readonly aliases = new Map<string, K>();

  /**
   * `what` names an entry in messages ('observer', 'quantization mode'); `unknownCode` is the
   * error code of a lookup of an unknown key (a mode the library lacks is UNSUPPORTED, a name in
   * the caller's options INVALID_ARGUMENT).
   */
  constructor(
    readonly what: string,
    private readonly unknownCode: QuantErrorCode = 'UNSUPPORTED',
  ) {}

  register(key: K, value: V): this {
    if (this.has(key)) throw new QuantError('INVALID_ARGUMENT', `${this.what} '${key}' is registered twice`);
    this.entries.set(key, value);
    return this;
  }

  /** Lets `alias` stand for the registered `key` in lookups (resolve, get, has). */
  alias(alias: string, key: K): this {
    if (this.has(alias)) throw new QuantError('INVALID_ARGUMENT', `${this.what} '${alias}' is registered twice`);
    this.resolve(key);
    this.aliases.set(alias, key);
    return this;
  }

  /** True for a registered key or an alias of one. */
  has(key: string): boolean {
    return this.entries.has(key as K) || this.aliases.has(key);
  }

  /** The registered key `key` names (itself, or what it is an alias of). */
  resolve(key: string): K {
    if (this.entries.has(key as K)) return key as K;
    const target = this.aliases.get(key);
    if (target !== undefined) return target;
    const known = this.keys();
    throw new QuantError(this.unknownCode, `unknown ${this.what} '${key}': expected one of ${known.length ? known.join(', ') : '(none registered)'}`);
  }

  get(key: string): V {
    return this.entries.get(this.resolve(key))!;
  }

  /** The registered keys in registration order (aliases left out). */
  keys(): K[] {
    return [...this.entries.keys()];
  }
}
