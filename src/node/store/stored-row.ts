import type { InstanceRecord } from './store.js';
import { decodeStoredConfig } from './stored-config.js';

/** A row of the instances table as either store reads it (PostgreSQL returns BIGINT timestamps as strings). */
export interface StoredRow {
  readonly id: string;
  readonly config: string;
  readonly parameters: string | null;
  readonly calibration: string | null;
  readonly created_at: number | string;
  readonly updated_at: number | string;
  readonly version: number;
}

/** The record a stored row holds: config decoded (newer formats refused), parameters and calibration parsed, times in milliseconds. */
export function recordFromRow(row: StoredRow): InstanceRecord {
  return {
    id: row.id,
    config: decodeStoredConfig(row.config),
    parameters: row.parameters === null ? null : (JSON.parse(row.parameters) as unknown),
    calibration: row.calibration === null ? null : (JSON.parse(row.calibration) as unknown),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    version: row.version,
  };
}

/** Parameters as the parameters column holds them: JSON text, or NULL for none. */
export function encodeParameters(parameters: unknown): string | null {
  return parameters === null || parameters === undefined ? null : JSON.stringify(parameters);
}
