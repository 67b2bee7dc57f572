import { QuantError } from '../core/errors.js';

/**
 * A keyed table filled in one explicit place: registering a key twice and looking up an unknown
 * key are errors (the latter lists the known keys). Importing a module never registers anything.
 */
export class Registry<V> {
  private readonly entries = new Map<string, V>();

  /** `what` names the entries in messages, e.g. 'quantization mode'. */
  constructor(readonly what: string) {}

  register(key: string, value: V): this {
    if (this.entries.has(key)) throw new QuantError('INVALID_ARGUMENT', `${this.what} '${key}' is registered twice`);
    this.entries.set(key, value);
    return this;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): V {
    const v = this.entries.get(key);
    if (v === undefined) {
      const known = [...this.entries.keys()];
      throw new QuantError('UNSUPPORTED', `unknown ${this.what} '${key}': expected one of ${known.length ? known.join(', ') : '(none registered)'}`);
    }
    return v;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }
}
