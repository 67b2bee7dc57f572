import { QuantError } from '../../core/errors.js';
import type { QuantizerConfig } from '../../engine/config.js';
import { mergeQuantizerConfig, parseQuantizerConfig } from '../../engine/config.js';
import { configFromSnakeCase } from '../../contract/config-names.js';
import { resolveLayerConfig } from '../../engine/layer-config.js';
import { decodeQuantizerParameters, encodeQuantizerParameters } from '../../engine/parameter-export.js';
import type { QuantizerParametersFile } from '../../engine/parameter-export.js';
import { Quantizer } from '../../engine/quantizer.js';
import type { Store, StoreChange } from '../../node/store/store.js';
import { VersionConflictError } from '../../node/store/version-conflict-error.js';
import { RequestError } from '../errors/request-error.js';
import { StatsFlusher, takeStatsCounts } from './stats-flusher.js';
import type { StatsCounts, StoreHealth } from '../../node/store/store.js';

export const DEFAULT_INSTANCE = 'default';

/**
 * One quantizer and the queue its operations wait in. Operations on one instance run one at a
 * time, in arrival order, so each sees the parameters every earlier one left and none sees a
 * half-finished calibration; instances do not wait for each other.
 */
let nextKey = 1;

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
    /** Replaced (inside the queue) when another replica's change is loaded. */
    public quantizer: Quantizer,
    /** The answer of the instance's last calibrate (JSON data, as stored), or null if never calibrated. */
    public lastCalibration: unknown = null,
    /** The stored record's version this instance holds: a write names it, and fails if the record moved on. */
    public version = 1,
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
  /** Called when an instance is deleted or dropped (to let caches of it go); default nothing. */
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
function loadInstance(id: string, config: Record<string, unknown>, parameters: unknown, calibration: unknown, notes: string[], version = 1): Instance {
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
  return new Instance(id, q, calibration ?? null, version);
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

  private constructor(
    private readonly store: Store,
    options: InstanceRegistryOptions = {},
  ) {
    this.warn = options.warn ?? (() => {});
    this.onDelete = options.onDelete ?? (() => {});
    this.flusher = new StatsFlusher(store);
  }

  /**
   * The registry of every stored record, the default instance created when missing. A store that
   * other replicas share is watched first, so a change made while loading is not missed.
   */
  static async open(store: Store, options: InstanceRegistryOptions = {}): Promise<InstanceRegistry> {
    const r = new InstanceRegistry(store, options);
    if (store.watch !== undefined) {
      r.stopWatching = await store.watch({ change: (c) => r.applyChange(c), resync: () => void r.reloadAll() });
    }
    for (const id of await store.list()) await r.loadRecord(id);
    if (!r.entries.has(DEFAULT_INSTANCE)) {
      // Replicas starting together race to create it; a loser loads the winner's.
      try {
        await r.create(DEFAULT_INSTANCE, {});
      } catch (e) {
        if (!(e instanceof RequestError && e.statusCode === 409)) throw e;
        await r.loadRecord(DEFAULT_INSTANCE);
      }
    }
    return r;
  }

  private stopWatching: (() => Promise<void>) | undefined;

  /** Stops listening for other replicas' changes (before the store closes). */
  async stopWatch(): Promise<void> {
    await this.stopWatching?.();
    this.stopWatching = undefined;
  }

  /** (Re)loads one record from the store into entries; removes the entry when the record is gone. */
  private async loadRecord(id: string): Promise<void> {
    const notes: string[] = [];
    try {
      const rec = await this.store.get(id);
      if (rec === undefined) {
        this.forget(id);
        return;
      }
      const existing = this.entries.get(id);
      if (existing instanceof Instance && existing.version >= rec.version) return;
      const loaded = loadInstance(id, rec.config, rec.parameters, rec.calibration, notes, rec.version);
      if (existing instanceof Instance) {
        // Same object, new state: requests already holding it see the change; counts not yet flushed carry over.
        loaded.quantizer.applyCopyEffects({ stats: existing.quantizer.getStats() });
        existing.quantizer = loaded.quantizer;
        existing.lastCalibration = loaded.lastCalibration;
        existing.version = loaded.version;
      } else {
        this.entries.set(id, loaded);
      }
    } catch (e) {
      const record = new UnloadableRecord(id, messageOf(e));
      const existing = this.entries.get(id);
      if (existing instanceof Instance) this.retire(existing);
      this.entries.set(id, record);
      notes.push(record.error().message);
    }
    notes.forEach((n) => this.warn(n));
  }

  private forget(id: string): void {
    const entry = this.entries.get(id);
    if (entry instanceof Instance) this.retire(entry);
    this.entries.delete(id);
  }

  /** An instance object no longer served (deleted, or its record gone or unloadable): requests holding it stop, caches let it go. */
  private retire(inst: Instance): void {
    inst.deleted = true;
    this.onDelete(inst);
  }

  /**
   * Another replica's change (or this one's own, echoed): a record newer than the one held is
   * reloaded inside the instance's queue, after the operations already waiting, so none of them
   * sees its instance change half-way; a deleted record is dropped, a new one loaded.
   */
  applyChange(change: StoreChange): Promise<void> {
    const entry = this.entries.get(change.id);
    if (change.version === null) {
      if (entry === undefined) return Promise.resolve();
      if (entry instanceof Instance) return entry.exclusive(() => this.forget(change.id));
      this.forget(change.id);
      return Promise.resolve();
    }
    if (entry instanceof Instance) {
      if (entry.version >= change.version) return Promise.resolve();
      return entry.exclusive(() => this.loadRecord(change.id)).catch((e: unknown) => this.warn(`instance '${change.id}': reload failed: ${messageOf(e)}`));
    }
    return this.loadRecord(change.id).catch((e: unknown) => this.warn(`instance '${change.id}': load failed: ${messageOf(e)}`));
  }

  /** After missed notifications: every stored record reloaded where its version moved, gone ones dropped, new ones added. */
  async reloadAll(): Promise<void> {
    try {
      const ids = await this.store.list();
      const stored = new Set(ids);
      for (const id of [...this.entries.keys()]) if (!stored.has(id)) await this.applyChange({ id, version: null });
      for (const id of ids) {
        const entry = this.entries.get(id);
        if (entry instanceof Instance) await entry.exclusive(() => this.loadRecord(id));
        else await this.loadRecord(id);
      }
    } catch (e) {
      this.warn(`reloading instances after a reconnect failed: ${messageOf(e)}`);
    }
  }

  private readonly flusher: StatsFlusher;

  /**
   * Adds the statistics the instance's operations counted since the last flush to the store's,
   * resolving once they (and every earlier flush of it) are there: an answer sent after it is
   * counted, on every replica.
   */
  flushStats(id: string): Promise<void> {
    const entry = this.entries.get(id);
    const delta = entry instanceof Instance ? takeStatsCounts(entry.quantizer) : undefined;
    return this.flusher.flush(id, delta);
  }

  /** The instance's statistics as the store keeps them (every replica's counts), this one's flushed first. */
  async stats(inst: Instance): Promise<StatsCounts> {
    await this.flushStats(inst.id);
    return this.store.getStats(inst.id);
  }

  /** The store's readiness (for /readyz). */
  storeHealth(): Promise<StoreHealth> {
    return this.store.health();
  }

  /** True when the statistics are kept in a store replicas share (and survive a restart). */
  get sharedStats(): boolean {
    return this.store.kind === 'postgres';
  }

  /** Zeroes the instance's statistics, in order after the counts flushed before. */
  async resetStats(inst: Instance): Promise<void> {
    inst.quantizer.resetStats();
    await this.flusher.flush(inst.id, undefined);
    await this.store.resetStats(inst.id);
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
  async create(id: string, snakeConfig: Record<string, unknown>): Promise<Instance> {
    const existing = this.entries.get(id);
    if (existing instanceof UnloadableRecord) {
      throw new RequestError(409, `Quantizer instance ${id} already exists (its stored record cannot be loaded: ${existing.reason}); it is kept`);
    }
    if (existing !== undefined) throw new RequestError(409, `Quantizer instance ${id} already exists`);
    const q = new Quantizer(configFromSnakeCase(snakeConfig));
    if (!(await this.store.create(id, q.getConfig() as unknown as Record<string, unknown>, q.exportParameters()))) {
      throw new RequestError(409, `Quantizer instance ${id} already exists`);
    }
    const inst = new Instance(id, q);
    // A notification of this very creation may have loaded it already: one object per id.
    const loaded = this.entries.get(id);
    if (loaded instanceof Instance) return loaded;
    this.entries.set(id, inst);
    return inst;
  }

  /** Deletes an instance or an unloadable record (an explicit request is the one way to remove one). */
  async delete(id: string): Promise<void> {
    if (id === DEFAULT_INSTANCE) throw new RequestError(403, 'Cannot delete the default quantizer instance');
    const entry = this.entries.get(id);
    if (entry === undefined) throw new RequestError(404, `Quantizer instance ${id} not found`);
    await this.store.delete(id);
    if (entry instanceof Instance) this.retire(entry);
    this.entries.delete(id);
  }

  /**
   * PUT semantics: the body is a whole QuantizerConfigModel, fields left out take their defaults.
   * The new config and what it leaves of the parameters (calibrations recomputed for it, last-used
   * parameters that no longer fit dropped) are written in one statement, then taken on.
   */
  async replaceConfig(inst: Instance, snakeConfig: Record<string, unknown>): Promise<void> {
    const full = parseQuantizerConfig(configFromSnakeCase(snakeConfig));
    // A whole replacement: on a conflict it is recomputed on the record another replica wrote.
    await this.retryingConflicts(inst, async () => {
      const q = inst.quantizer;
      const next = mergeQuantizerConfig(q.getConfig(), full);
      const trial = scratchCopy(q);
      trial.updateConfig(full);
      await this.save(inst, next, trial.exportParameters());
      q.updateConfig(full);
    });
  }

  /** Imports exported parameters (INVALID_PARAMS, 422, when they do not fit the config): written, then taken on. */
  async importParameters(inst: Instance, parameters: unknown): Promise<void> {
    await this.retryingConflicts(inst, async () => {
      const q = inst.quantizer;
      const trial = new Quantizer(q.getConfig());
      trial.importParameters(parameters);
      const checked = trial.exportParameters();
      await this.save(inst, q.getConfig(), checked);
      q.importParameters(checked);
    });
  }

  /**
   * Runs an idempotent change (a whole replacement), and when another replica changed the record
   * first, reloads it and runs the change again on it; after a few lost races, 409.
   */
  private async retryingConflicts(inst: Instance, change: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await change();
        return;
      } catch (e) {
        if (!(e instanceof RequestError && e.statusCode === 409 && e.cause instanceof VersionConflictError) || attempt >= 5) throw e;
        await this.loadRecord(inst.id);
        if (inst.deleted) throw new RequestError(404, `Quantizer instance ${inst.id} was deleted by another request`);
      }
    }
  }

  /**
   * Saves a calibration's parameters (the instance's whole parameters after it) together with its
   * report (JSON data) in one write, then takes them on (`takeOn`, by default importing them): the
   * report is then the instance's lastCalibration, here and after a restart.
   */
  async recordCalibration(inst: Instance, parameters: unknown, report: unknown, takeOn: () => void = () => inst.quantizer.importParameters(parameters)): Promise<void> {
    if (inst.deleted) return;
    const q = inst.quantizer;
    inst.version = await this.conditionally(inst, () =>
      this.store.updateCalibration(inst.id, q.getConfig() as unknown as Record<string, unknown>, parameters, report, inst.version),
    );
    takeOn();
    inst.lastCalibration = report;
  }

  /** Saves the instance's config with these parameters (what an operation is about to leave). */
  async save(inst: Instance, config: QuantizerConfig, parameters: unknown): Promise<void> {
    if (inst.deleted) return;
    inst.version = await this.conditionally(inst, () => this.store.update(inst.id, config as unknown as Record<string, unknown>, parameters, inst.version));
  }

  /**
   * A write conditional on the instance's version, as the new version. Another replica's change
   * since is a 409 (the instance is reloaded behind the queue, so a retry sees it); a record
   * deleted meanwhile is a 404.
   */
  private async conditionally(inst: Instance, write: () => Promise<number | undefined>): Promise<number> {
    let version: number | undefined;
    try {
      version = await write();
    } catch (e) {
      if (!(e instanceof VersionConflictError)) throw e;
      void this.applyChange({ id: inst.id, version: Number.MAX_SAFE_INTEGER });
      const conflict = new RequestError(409, `Quantizer instance ${inst.id} was changed by another request while this one ran; nothing was written, retry it`);
      conflict.cause = e;
      throw conflict;
    }
    if (version === undefined) {
      void this.applyChange({ id: inst.id, version: null });
      throw new RequestError(404, `Quantizer instance ${inst.id} was deleted by another request; nothing was written`);
    }
    return version;
  }

  /** Saves config and parameters of an instance as they are. */
  async persist(inst: Instance): Promise<void> {
    await this.save(inst, inst.quantizer.getConfig(), inst.quantizer.exportParameters());
  }

  /**
   * Writes every instance's last-used parameters (shutdown), which requests do not persist one by
   * one. Never throws: an instance that cannot be written (a full disk) is reported and the others
   * are still saved; what it loses is only its last-used parameters since its last saved change.
   */
  async persistAll(): Promise<void> {
    for (const entry of this.entries.values()) {
      if (!(entry instanceof Instance)) continue;
      try {
        await this.persist(entry);
      } catch (e) {
        this.warn(`instance '${entry.id}': last-used parameters not saved at shutdown: ${messageOf(e)}`);
      }
    }
  }
}

export type { QuantizerConfig };
