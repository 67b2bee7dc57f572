import type { QuantizerConfig } from '../engine/config.js';
import { quantizerConfigSchema } from '../engine/config.js';
import { CONFIG_FIELD_NAMES, configFromSnakeCase, LAYER_OVERRIDE_FIELD_NAMES } from './config-names.js';

/** One problem of a snake_case config, located by the contract's names. */
export interface HttpConfigIssue {
  /** The top-level field it belongs to (snake_case), or null for the config as a whole. */
  readonly field: string | null;
  /** Where inside the config, in the contract's names: ['custom_quantization_config', 'fc1', 'num_bits']. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export type HttpConfigCheck = { ok: true; config: QuantizerConfig } | { ok: false; issues: HttpConfigIssue[] };

const own = (o: object, k: PropertyKey) => Object.prototype.hasOwnProperty.call(o, k);

function snakePath(path: readonly PropertyKey[]): (string | number)[] {
  const out = path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (typeof out[0] === 'string' && own(CONFIG_FIELD_NAMES, out[0])) out[0] = CONFIG_FIELD_NAMES[out[0] as keyof typeof CONFIG_FIELD_NAMES];
  // custom_quantization_config.<layer>.<override field>: the layer name is the client's, kept as is.
  if (out[0] === CONFIG_FIELD_NAMES.customQuantizationConfig && typeof out[2] === 'string' && own(LAYER_OVERRIDE_FIELD_NAMES, out[2])) {
    out[2] = LAYER_OVERRIDE_FIELD_NAMES[out[2] as keyof typeof LAYER_OVERRIDE_FIELD_NAMES];
  }
  return out;
}

/**
 * Validates a config as the contract spells it (snake_case, what POST /instances/{id} takes) with
 * the engine's own schema, every rule included (field bounds and the cross-field ones), and says
 * which field each problem belongs to. The page checks its form with this before sending.
 */
export function checkHttpConfig(body: Readonly<Record<string, unknown>>): HttpConfigCheck {
  const r = quantizerConfigSchema.safeParse(configFromSnakeCase(body));
  if (r.success) return { ok: true, config: r.data };
  const issues: HttpConfigIssue[] = [];
  for (const iss of r.error.issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) issues.push({ field: k, path: [k], message: 'unknown field' });
      continue;
    }
    const path = snakePath(iss.path);
    issues.push({ field: typeof path[0] === 'string' ? path[0] : null, path, message: iss.message });
  }
  return { ok: false, issues };
}
