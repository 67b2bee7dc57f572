import { QuantError } from '../core/errors.js';
import type { QuantizerConfig } from '../engine/config.js';
import { parseQuantizerConfig } from '../engine/config.js';
import { configFromSnakeCase } from '../engine/config-names.js';
import { Quantizer } from '../engine/quantizer.js';
import type { Store } from '../node/store/store.js';
import { RequestError } from './request-error.js';

export const DEFAULT_INSTANCE = 'default';

/**
 * One quantizer and the queue its operations wait in. Operations on one instance run one at a
 * time, in arrival order, so each sees the parameters every earlier one left and none sees a
 * half-finished calibration; instances do not wait for each other.
 */
export class Instance {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  deleted = false;

  constructor(
    readonly id: string,
    readonly quantizer: Quantizer,
    /** The answer of the instance's last calibrate (JSON data, as stored), or null if never calibrated. */
    public lastCalibration: unknown = null,
  ) {}

  /**
   * Runs fn once every earlier operation on this instance has finished. With nothing queued a
   * synchronous fn runs at once (no promise hops: the common small request).
   */
  exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.pending === 0) {
      let result: T | Promise<T>;
      try {
        result = fn();
      } catch (e) {
        return Promise.reject(e);
      }
      if (!(result instanceof Promise)) return Promise.resolve(result);
      return this.track(result);
    }
    return this.track(this.tail.then(fn));
  }

  private track<T>(run: Promise<T>): Promise<T> {
    this.pending++;
    const done = () => {
      this.pending--;
    };
    this.tail = run.then(done, done);
    return run;
  }

  /** True while no operation is queued or running (a snapshot is then current). */
  get idle(): boolean {
    return this.pending === 0;
  }
}

/**
 * The instances of the service, loaded from and written through to the store. Writes that change
 * what survives a restart (create, delete, config, calibration, imported parameters) reach the
 * store before the method returns, hence before the answer is sent.
 */
export class InstanceRegistry {
  private readonly instances = new Map<string, Instance>();

  constructor(private readonly store: Store) {
    for (const id of store.list()) {
      const rec = store.get(id);
      if (rec === undefined) continue;
      let q: Quantizer;
      try {
        q = new Quantizer(rec.config);
        if (rec.parameters !== null && rec.parameters !== undefined) q.importParameters(rec.parameters);
      } catch (e) {
        // Refuse to start rather than serve without an instance someone stored.
        throw new QuantError('INVALID_CONFIG', `stored instance '${id}' cannot be loaded: ${(e as Error).message}`, { cause: e });
      }
      this.instances.set(id, new Instance(id, q, rec.calibration ?? null));
    }
    if (!this.instances.has(DEFAULT_INSTANCE)) this.create(DEFAULT_INSTANCE, {});
  }

  ids(): string[] {
    return [...this.instances.keys()];
  }

  /** The instance, or 404 as the contract answers for any unknown id. */
  get(id: string): Instance {
    const inst = this.instances.get(id);
    if (inst === undefined) throw new RequestError(404, `Quantizer instance ${id} not found`);
    return inst;
  }

  /** snakeConfig: the contract's QuantizerConfigModel (validated by the engine; 422 on a bad one). */
  create(id: string, snakeConfig: Record<string, unknown>): Instance {
    if (this.instances.has(id)) throw new RequestError(409, `Quantizer instance ${id} already exists`);
    const q = new Quantizer(configFromSnakeCase(snakeConfig));
    if (!this.store.create(id, q.getConfig() as unknown as Record<string, unknown>, q.exportParameters())) {
      throw new RequestError(409, `Quantizer instance ${id} already exists`);
    }
    const inst = new Instance(id, q);
    this.instances.set(id, inst);
    return inst;
  }

  delete(id: string): void {
    if (id === DEFAULT_INSTANCE) throw new RequestError(403, 'Cannot delete the default quantizer instance');
    const inst = this.get(id);
    this.store.delete(id);
    inst.deleted = true;
    this.instances.delete(id);
  }

  /** PUT semantics: the body is a whole QuantizerConfigModel, fields left out take their defaults. */
  replaceConfig(inst: Instance, snakeConfig: Record<string, unknown>): void {
    const full = parseQuantizerConfig(configFromSnakeCase(snakeConfig));
    inst.quantizer.updateConfig(full);
    this.persist(inst);
  }

  /** Writes every instance's last-used parameters too (shutdown), which requests do not persist one by one. */
  persistAll(): void {
    for (const inst of this.instances.values()) this.persist(inst);
  }

  /**
   * Saves a calibration's parameters together with its report (JSON data), which then is the
   * instance's lastCalibration, here and after a restart.
   */
  recordCalibration(inst: Instance, report: unknown): void {
    if (inst.deleted) return;
    const q = inst.quantizer;
    if (!this.store.updateCalibration(inst.id, q.getConfig() as unknown as Record<string, unknown>, q.exportParameters(), report)) {
      throw new QuantError('IO_ERROR', `instance ${inst.id} vanished from the store`);
    }
    inst.lastCalibration = report;
  }

  /** Saves config and parameters of an instance after an operation that may have changed them. */
  persist(inst: Instance): void {
    if (inst.deleted) return;
    const q = inst.quantizer;
    if (!this.store.update(inst.id, q.getConfig() as unknown as Record<string, unknown>, q.exportParameters())) {
      throw new QuantError('IO_ERROR', `instance ${inst.id} vanished from the store`);
    }
  }
}

export type { QuantizerConfig };
