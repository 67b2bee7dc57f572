import { QuantError } from '../errors.js';
import type { Observer } from './observer.js';

/** Builds an observer from plain-data options (validated by the observer's constructor). */
export type ObserverFactory = (options: Record<string, unknown>) => Observer;

/**
 * Observer kinds by name. Created empty and filled in one explicit place (builtin-observers.ts);
 * importing an observer module registers nothing. Registering a name twice and creating an unknown
 * one are errors, the latter listing the names it knows.
 */
export class ObserverRegistry {
  private readonly factories = new Map<string, ObserverFactory>();

  register(name: string, factory: ObserverFactory): this {
    if (this.factories.has(name)) {
      throw new QuantError('INVALID_ARGUMENT', `observer '${name}' is already registered`);
    }
    this.factories.set(name, factory);
    return this;
  }

  has(name: string): boolean {
    return this.factories.has(name);
  }

  names(): string[] {
    return [...this.factories.keys()];
  }

  create(name: string, options: Record<string, unknown> = {}): Observer {
    const factory = this.factories.get(name);
    if (!factory) {
      throw new QuantError('INVALID_ARGUMENT', `unknown observer '${name}': expected one of ${this.names().join(', ')}`);
    }
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new QuantError('INVALID_ARGUMENT', `observer options must be an object, got ${JSON.stringify(options)}`);
    }
    return factory(options);
  }
}
