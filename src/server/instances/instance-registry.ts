import { QuantError } from '../../core/errors.js';
import type { QuantizerConfig } from '../../engine/config.js';
import { mergeQuantizerConfig, parseQuantizerConfig } from '../../engine/config.js';
import { configFromSnakeCase } from '../../contract/config-names.js';
import { resolveLayerConfig } from '../../engine/layer-config.js';
import { decodeQuantizerParameters, encodeQuantizerParameters } from '../../engine/parameter-export.js';
import type { QuantizerParametersFile } from '../../engine/parameter-export.js';
import { Quantizer } from '../../engine/quantizer.js';
import type { Store } from '../../node/store/store.js';
import { RequestError } from '../errors/request-error.js';

export const DEFAULT_INSTANCE = 'default';

let nextKey = 1;

/**
 * One quantizer and the queue its operations wait in. Operations on one instance run one at a
 * time, in arrival order, so each sees the parameters every earlier one left and none sees a
 * half-finished calibration; instances do not wait for each other.
 */
export class Instance {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  deleted = false;
  /**
   * Names this instance object for caches of its state (the offload worker's copy): unlike the id,
   * never reused, so an id deleted and created again cannot be served another's copy.
   */
  readonly key = nextKey++;

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
 * A stored record this quantkit cannot load (a config or parameters it does not accept, a row
 * that does not parse). It stays in the store exactly as it is, its id stays taken, and every
 * route of it answers 503 saying why; only an explicit DELETE removes it.
 */
export class UnloadableRecord {
  constructor(
    readonly id: string,
    readonly reason: string,
  ) {}

  /** The answer every route of this id gets. */
  error(): RequestError {
    // The default instance cannot be deleted: its record has to be repaired, or read by a quantkit that can.
    const remedy = this.id === DEFAULT_INSTANCE ? 'a quantkit that can read it serves it again' : `DELETE /instances/${this.id} removes it`;
    return new RequestError(503, `stored instance '${this.id}' cannot be loaded: ${this.reason}. Its record is kept unchanged in the store; the other instances are served (${remedy})`);
  }
}

export interface InstanceRegistryOptions {
  /** Where load problems are reported (the service's logger); default nowhere. */
  warn?: (message: string) => void;
  /** Called when an instance is deleted (to let caches of it go); default nothing. */
  onDelete?: (inst: Instance) => void;
}

/**
 * A scratch quantizer holding q's config and parameters, to compute a change on before it is
 * written: what the change leaves is saved first and only then taken on by q, so a write that
 * fails leaves q as it was.
 */
export function scratchCopy(q: Quantizer): Quantizer {
  const copy = new Quantizer(q.getConfig());
  copy.importParameters(q.exportParameters());
  return copy;
}

/**
 * Loads a stored record. Last-used parameters of a dtype the config no longer quantizes to are
 * dropped with a note: earlier versions kept them across a config change and then could not load
 * the record they had written themselves (a config change now drops them, as here).
 */
function loadInstance(id: string, config: Record<string, unknown>, parameters: unknown, calibration: unknown, notes: string[]): Instance {
  const q = new Quantizer(config);
  if (parameters !== null && parameters !== undefined) {
    try {
      q.importParameters(parameters);
    } catch (e) {
      let fitting: ReturnType<typeof withoutStaleLastUsed> = null;
      try {
        fitting = withoutStaleLastUsed(q.getConfig(), parameters);
      } catch {
        // Not decodable at all: the first error says why.
      }
      if (fitting === null) throw e;
      q.importParameters(fitting.parameters);
      notes.push(`stored instance '${id}': dropped last-used parameters that no longer fit its config (${fitting.dropped.join(', ')})`);
    }
  }
  return new Instance(id, q, calibration ?? null);
}

/** The parameters without last-used entries whose dtype the config does not quantize to, or null when none was dropped. */
function withoutStaleLastUsed(cfg: QuantizerConfig, parameters: unknown): { parameters: QuantizerParametersFile; dropped: string[] } | null {
  const { calibrated, last } = decodeQuantizerParameters(parameters);
  const dropped: string[] = [];
  for (const [key, p] of last) {
    const dtype = resolveLayerConfig(cfg, key === '' ? undefined : key).dtype;
    if (dtype !== p.dtype) {
      last.delete(key);
      dropped.push(`${key === '' ? 'the instance' : `layer '${key}'`}: ${p.dtype}, quantized as ${dtype ?? cfg.quantizationType}`);
    }
  }
  return dropped.length === 0 ? null : { parameters: encodeQuantizerParameters(calibrated, last), dropped };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The instances of the service, loaded from and written through to the store. Every change is
 * written first and taken on in memory only once the store has it: a write that fails (a full
 * disk) answers an error and leaves the instance exactly as it was, and an answer is never sent
 * for a change a crash could lose. A stored record that cannot be loaded is kept and reported,
 * never a reason not to serve the others.
 */
export class InstanceRegistry {
  /** In the store's order (creation); unloadable records keep their place and their id. */
  private readonly entries = new Map<string, Instance | UnloadableRecord>();
  private readonly warn: (message: string) => void;
  private readonly onDelete: (inst: Instance) => void;

  constructor(
    private readonly store: Store,
    options: InstanceRegistryOptions = {},
  ) {
    this.warn = options.warn ?? (() => {});
    this.onDelete = options.onDelete ?? (() => {});
    for (const id of store.list()) {
      const notes: string[] = [];
      try {
        const rec = store.get(id);
        if (rec === undefined) continue;
        this.entries.set(id, loadInstance(id, rec.config, rec.parameters, rec.calibration, notes));
      } catch (e) {
        const record = new UnloadableRecord(id, messageOf(e));
        this.entries.set(id, record);
        notes.push(record.error().message);
      }
      notes.forEach((n) => this.warn(n));
    }
    if (!this.entries.has(DEFAULT_INSTANCE)) this.create(DEFAULT_INSTANCE, {});
  }

  /** Every stored id, unloadable ones included (they exist: creating them answers 409). */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** The records that could not be loaded, in store order. */
  unloadable(): UnloadableRecord[] {
    return [...this.entries.values()].filter((e): e is UnloadableRecord => e instanceof UnloadableRecord);
  }

  /** The instance; 404 for an unknown id, 503 (saying why) for a stored record that cannot be loaded. */
  get(id: string): Instance {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new RequestError(404, `Quantizer instance ${id} not found`);
    if (entry instanceof UnloadableRecord) throw entry.error();
    return entry;
  }

  /** The instance or the unloadable record of id, or undefined. */
  lookup(id: string): Instance | UnloadableRecord | undefined {
    return this.entries.get(id);
  }

  /** snakeConfig: the contract's QuantizerConfigModel (validated by the engine; 422 on a bad one). */
  create(id: string, snakeConfig: Record<string, unknown>): Instance {
    const existing = this.entries.get(id);
    if (existing instanceof UnloadableRecord) {
      throw new RequestError(409, `Quantizer instance ${id} already exists (its stored record cannot be loaded: ${existing.reason}); it is kept`);
    }
    if (existing !== undefined) throw new RequestError(409, `Quantizer instance ${id} already exists`);
    const q = new Quantizer(configFromSnakeCase(snakeConfig));
    if (!this.store.create(id, q.getConfig() as unknown as Record<string, unknown>, q.exportParameters())) {
      throw new RequestError(409, `Quantizer instance ${id} already exists`);
    }
    const inst = new Instance(id, q);
    this.entries.set(id, inst);
    return inst;
  }

  /** Deletes an instance or an unloadable record (an explicit request is the one way to remove one). */
  delete(id: string): void {
    if (id === DEFAULT_INSTANCE) throw new RequestError(403, 'Cannot delete the default quantizer instance');
    const entry = this.entries.get(id);
    if (entry === undefined) throw new RequestError(404, `Quantizer instance ${id} not found`);
    this.store.delete(id);
    this.entries.delete(id);
    if (entry instanceof Instance) {
      entry.deleted = true;
      this.onDelete(entry);
    }
  }

  /**
   * PUT semantics: the body is a whole QuantizerConfigModel, fields left out take their defaults.
   * The new config and what it leaves of the parameters (calibrations recomputed for it, last-used
   * parameters that no longer fit dropped) are written in one statement, then taken on.
   */
  replaceConfig(inst: Instance, snakeConfig: Record<string, unknown>): void {
    const full = parseQuantizerConfig(configFromSnakeCase(snakeConfig));
    const q = inst.quantizer;
    const next = mergeQuantizerConfig(q.getConfig(), full);
    const trial = scratchCopy(q);
    trial.updateConfig(full);
    this.save(inst, next, trial.exportParameters());
    q.updateConfig(full);
  }

  /** Imports exported parameters (INVALID_PARAMS, 422, when they do not fit the config): written, then taken on. */
  importParameters(inst: Instance, parameters: unknown): void {
    const q = inst.quantizer;
    const trial = new Quantizer(q.getConfig());
    trial.importParameters(parameters);
    const checked = trial.exportParameters();
    this.save(inst, q.getConfig(), checked);
    q.importParameters(checked);
  }

  /**
   * Saves a calibration's parameters (the instance's whole parameters after it) together with its
   * report (JSON data) in one write, then takes them on (`takeOn`, by default importing them): the
   * report is then the instance's lastCalibration, here and after a restart.
   */
  recordCalibration(inst: Instance, parameters: unknown, report: unknown, takeOn: () => void = () => inst.quantizer.importParameters(parameters)): void {
    if (inst.deleted) return;
    const q = inst.quantizer;
    if (!this.store.updateCalibration(inst.id, q.getConfig() as unknown as Record<string, unknown>, parameters, report)) {
      throw new QuantError('IO_ERROR', `instance ${inst.id} vanished from the store`);
    }
    takeOn();
    inst.lastCalibration = report;
  }

  /** Saves the instance's config with these parameters (what an operation is about to leave). */
  save(inst: Instance, config: QuantizerConfig, parameters: unknown): void {
    if (inst.deleted) return;
    if (!this.store.update(inst.id, config as unknown as Record<string, unknown>, parameters)) {
      throw new QuantError('IO_ERROR', `instance ${inst.id} vanished from the store`);
    }
  }

  /** Saves config and parameters of an instance as they are. */
  persist(inst: Instance): void {
    this.save(inst, inst.quantizer.getConfig(), inst.quantizer.exportParameters());
  }

  /**
   * Writes every instance's last-used parameters (shutdown), which requests do not persist one by
   * one. Never throws: an instance that cannot be written (a full disk) is reported and the others
   * are still saved; what it loses is only its last-used parameters since its last saved change.
   */
  persistAll(): void {
    for (const entry of this.entries.values()) {
      if (!(entry instanceof Instance)) continue;
      try {
        this.persist(entry);
      } catch (e) {
        this.warn(`instance '${entry.id}': last-used parameters not saved at shutdown: ${messageOf(e)}`);
      }
    }
  }
}

export type { QuantizerConfig };
