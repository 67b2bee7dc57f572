import { z } from 'zod';
import { layerOverrideSchema, quantizerConfigSchema } from '../engine/config.js';
import { CONFIG_FIELD_NAMES, LAYER_OVERRIDE_FIELD_NAMES } from './config-names.js';

/** A JSON Schema object (draft-07, the dialect fastify's validator speaks). */
export type JsonSchema = { [keyword: string]: unknown };

/** How every schema here is generated: the input side (what a client sends), draft-07. */
export const JSON_SCHEMA_OPTIONS = { io: 'input', target: 'draft-7' } as const;

function isSchema(v: unknown): v is JsonSchema {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The HTTP boundary's adjustments to zod's JSON Schema, applied to every subschema:
 * - no `default`: the engine applies defaults (numBits follows the type, which JSON Schema cannot
 *   say), and the validator's useDefaults would otherwise write them into the request body;
 * - no ±2^53-1 bounds, which zod's `.int()` adds for safe integers: the engine refuses those itself,
 *   and the contract never documented them;
 * - a nullable value's null branch is `const: null`, first: under the validator's type coercion a
 *   `type: 'null'` branch turns 0, false and "" into null (silently switching a setting off).
 */
function adjust(node: unknown): void {
  if (!isSchema(node)) return;
  delete node.default;
  delete node.$schema;
  if (node.minimum === Number.MIN_SAFE_INTEGER) delete node.minimum;
  if (node.maximum === Number.MAX_SAFE_INTEGER) delete node.maximum;
  if (Array.isArray(node.anyOf)) {
    const branches = node.anyOf as unknown[];
    const isNull = (b: unknown) => isSchema(b) && b.type === 'null' && Object.keys(b).length === 1;
    if (branches.some(isNull)) node.anyOf = [{ const: null }, ...branches.filter((b) => !isNull(b))];
  }
  // Into subschemas only: a property's name is not a keyword.
  if (isSchema(node.properties)) Object.values(node.properties).forEach(adjust);
  for (const k of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(node[k])) (node[k] as unknown[]).forEach(adjust);
  adjust(node.items);
  adjust(node.additionalProperties);
}

/** Renames an object schema's properties (and its `required`) by `names`; a property without a name is a contract gap. */
function renameProperties(schema: JsonSchema, names: Readonly<Record<string, string>>): void {
  const props = schema.properties as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [camel, s] of Object.entries(props)) {
    if (!Object.prototype.hasOwnProperty.call(names, camel)) throw new Error(`config field ${camel} has no snake_case name in the HTTP contract`);
    out[names[camel]] = s;
  }
  schema.properties = out;
  if (Array.isArray(schema.required)) schema.required = (schema.required as string[]).map((k) => names[k]);
}

/** zod's JSON Schema of `schema` (input side), as a fresh plain object. */
function generate(schema: z.ZodType): JsonSchema {
  return JSON.parse(JSON.stringify(z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS))) as JsonSchema;
}

let cached: JsonSchema | undefined;

/**
 * QuantizerConfigModel, the request body of POST /instances/{id} and PUT /instances/{id}/config:
 * the engine's zod schema as JSON Schema, with the contract's snake_case names. The service
 * validates with it and documents it in /openapi.json, and the page builds its form from it, so
 * none of them can drift from the engine. Cross-field rules (min < max percentile, bits per type)
 * are the engine's alone; the service and the page apply them by parsing with the engine.
 * Generated on first use (zod's schema walk is not free), then the same object every time.
 */
export function quantizerConfigJsonSchema(): JsonSchema {
  if (cached) return cached;
  const schema = generate(quantizerConfigSchema);
  // The layer map is parsed by hand (null-prototype keys), which JSON Schema sees as "anything".
  const layer = generate(layerOverrideSchema);
  renameProperties(layer, LAYER_OVERRIDE_FIELD_NAMES);
  (schema.properties as Record<string, JsonSchema>).customQuantizationConfig = { type: 'object', additionalProperties: layer };
  renameProperties(schema, CONFIG_FIELD_NAMES);
  adjust(schema);
  cached = Object.freeze({ $id: 'QuantizerConfigModel', ...schema });
  return cached;
}
