import { QuantError } from '../../core/errors.js';
import { CONFIG_FORMAT_VERSION } from '../../engine/config.js';

/**
 * A config as a row holds it: the engine's fields with the format version they were written in,
 * `{"version": 1, "quantizationType": ...}`. Rows written before configs carried a version have
 * none and are version 1.
 */
export function encodeStoredConfig(config: Readonly<Record<string, unknown>>): string {
  return JSON.stringify({ version: CONFIG_FORMAT_VERSION, ...config });
}

/**
 * The config fields of a stored row, without its version. A version newer than this quantkit's
 * is refused (UNSUPPORTED) rather than read with meanings it may not have: the record cannot be
 * loaded, and is kept for a quantkit that can.
 */
export function decodeStoredConfig(text: string): Record<string, unknown> {
  const parsed = JSON.parse(text) as unknown;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new QuantError('MALFORMED_FILE', 'its stored config is not a JSON object');
  }
  const { version = 1, ...config } = parsed as Record<string, unknown>;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new QuantError('MALFORMED_FILE', `its stored config has version ${JSON.stringify(version)}; expected a positive integer`);
  }
  if (version > CONFIG_FORMAT_VERSION) {
    throw new QuantError(
      'UNSUPPORTED',
      `its config was written in format version ${version}, newer than this quantkit reads (up to ${CONFIG_FORMAT_VERSION}); upgrade quantkit to load it`,
    );
  }
  return config;
}
