import { addCallStats, type CallCounts } from '../../engine/quantizer-stats.js';

/**
 * What the service persists per quantizer instance. Configs are kept in the engine's camelCase
 * form, stored with their format version (stored-config.ts: a newer one than this quantkit reads
 * makes get() throw, and the record unloadable); parameters are whatever the engine's exportParameters returned (versioned JSON), stored
 * opaquely so the store never needs to understand them.
 */
export interface InstanceRecord {
  readonly id: string;
  readonly config: Record<string, unknown>;
  readonly parameters: unknown;
  /** The report of the instance's last calibration (JSON data the service wrote), or null if never calibrated. */
  readonly calibration: unknown;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /**
   * 1 at creation, one more at every write of config, parameters or calibration. A change names
   * the version it was computed from, so two replicas cannot silently overwrite each other.
   */
  readonly version: number;
}

/**
 * Counts of operations on one instance, kept in the store so that every replica adds to the same
 * ones: sums (calls, values, time) are added atomically, lastScale/lastZeroPoint replaced when a
 * delta carries them (NaN: it does not).
 */
/** An instance's call statistics as a store keeps them (the engine's call counts). */
export type StatsCounts = CallCounts;

/** One change of the instances table as another replica (or this one) made it. */
export interface StoreChange {
  readonly id: string;
  /** The record's version after the change; null when it was deleted. */
  readonly version: number | null;
}

/** Told of changes by a store that other processes share (see Store.watch). */
export interface StoreWatcher {
  /** A record was created, changed or deleted. */
  change(change: StoreChange): void;
  /** Changes may have been missed (the notification connection was lost and is back): reload everything. */
  resync(): void;
}

/** What /readyz reports: the store answers and its schema is the one this build writes. */
export interface StoreHealth {
  ready: boolean;
  detail: string;
}

/**
 * Durable instance storage. Every write resolves only once it is durable, so a caller that
 * answers after it never acknowledges a write a crash could lose. SQLite answers at once (its
 * promises are already settled); PostgreSQL after the commit.
 */
export interface Store {
  /** 'sqlite' (one process owns it) or 'postgres' (replicas share it). */
  readonly kind: 'sqlite' | 'postgres';
  list(): Promise<string[]>;
  get(id: string): Promise<InstanceRecord | undefined>;
  /** False (and nothing written) when the id exists. */
  create(id: string, config: Record<string, unknown>, parameters: unknown): Promise<boolean>;
  /** False when the id does not exist. */
  delete(id: string): Promise<boolean>;
  /**
   * Replaces config and parameters together (a config change can invalidate parameters). Resolves
   * to the new version, undefined when the id does not exist; with `expectedVersion`, a record at
   * another version is left alone and a VersionConflictError thrown.
   */
  update(id: string, config: Record<string, unknown>, parameters: unknown, expectedVersion?: number): Promise<number | undefined>;
  updateParameters(id: string, parameters: unknown, expectedVersion?: number): Promise<number | undefined>;
  /** A calibration's result in one write: config and parameters as update does, and its report. */
  updateCalibration(id: string, config: Record<string, unknown>, parameters: unknown, calibration: unknown, expectedVersion?: number): Promise<number | undefined>;
  /** Adds counts to an instance's statistics in one atomic step (no read-modify-write). */
  addStats(id: string, delta: StatsCounts): Promise<void>;
  /** The instance's statistics (all zero, last scale NaN, when none were added since creation or reset). */
  getStats(id: string): Promise<StatsCounts>;
  resetStats(id: string): Promise<void>;
  /** Whether the store answers and its schema is current (for /readyz). Never throws. */
  health(): Promise<StoreHealth>;
  /**
   * Calls the watcher on every change any process makes, until the returned stop is called. Only
   * a store that other processes share has one (SQLite's owner makes every change itself).
   */
  watch?(watcher: StoreWatcher): Promise<() => Promise<void>>;
  /** Releases the store (files, connections). Idempotent. */
  close(): Promise<void>;
}

export function emptyStatsCounts(): StatsCounts {
  return {
    clippedValues: 0,
    totalValues: 0,
    quantizeCalls: 0,
    dequantizeCalls: 0,
    processingTimeMs: 0,
    requantizations: 0,
    nonFiniteValues: 0,
    lastScale: NaN,
    lastZeroPoint: NaN,
  };
}

/** into += delta, the last scale and zero point replaced when delta set them (the engine's own sum). */
export const addStatsCounts = addCallStats;

/** True when adding delta would change nothing. */
export function isEmptyStatsCounts(delta: StatsCounts): boolean {
  return (
    delta.clippedValues === 0 &&
    delta.totalValues === 0 &&
    delta.quantizeCalls === 0 &&
    delta.dequantizeCalls === 0 &&
    delta.processingTimeMs === 0 &&
    delta.requantizations === 0 &&
    delta.nonFiniteValues === 0 &&
    Number.isNaN(delta.lastScale)
  );
}
