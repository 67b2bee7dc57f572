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
}

/**
 * Durable instance storage. Every method is synchronous and returns only once the write is
 * durable, so a caller that answers after it never acknowledges a write a crash could lose.
 */
export interface Store {
  list(): string[];
  get(id: string): InstanceRecord | undefined;
  /** False (and nothing written) when the id exists. */
  create(id: string, config: Record<string, unknown>, parameters: unknown): boolean;
  /** False when the id does not exist. */
  delete(id: string): boolean;
  /** Replaces config and parameters together (a config change can invalidate parameters). */
  update(id: string, config: Record<string, unknown>, parameters: unknown): boolean;
  updateParameters(id: string, parameters: unknown): boolean;
  /** A calibration's result in one write: config and parameters as update does, and its report. False when the id does not exist. */
  updateCalibration(id: string, config: Record<string, unknown>, parameters: unknown, calibration: unknown): boolean;
  close(): void;
}
