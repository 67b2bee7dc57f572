import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { layerOverrideSchema, NUM_BITS_RANGE, QUANTIZATION_TYPES, quantizerConfigSchema } from '../engine/config.js';
import { JSON_SCHEMA_OPTIONS, quantizerConfigJsonSchema, type JsonSchema } from './config-json-schema.js';
import { CONFIG_FIELD_NAMES, LAYER_OVERRIDE_FIELD_NAMES } from './config-names.js';

type Props = Record<string, JsonSchema>;
const zodJson = (s: z.ZodType) => JSON.parse(JSON.stringify(z.toJSONSchema(s, JSON_SCHEMA_OPTIONS))) as JsonSchema;

/**
 * zod's property as the contract must serve it. Spelled out here rather than reusing the module's
 * code: defaults and the safe-integer bounds of `.int()` are left to the engine, and a nullable's
 * null branch is `const: null`, first (no type coercion of 0/false/"" into null).
 */
function expectedProperty(p: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...p };
  delete out.default;
  if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
  if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  if (Array.isArray(out.anyOf)) out.anyOf = [{ const: null }, ...(out.anyOf as JsonSchema[]).filter((b) => b.type !== 'null')];
  return out;
}

describe('quantizerConfigJsonSchema (the HTTP QuantizerConfigModel)', () => {
  const served = quantizerConfigJsonSchema();
  const props = served.properties as Props;

  it('is zod\'s JSON Schema of the engine\'s config schema, field for field, under the contract\'s names', () => {
    const fromZod = zodJson(quantizerConfigSchema);
    const zodProps = fromZod.properties as Props;
    expect(Object.keys(props).sort()).toEqual(Object.keys(zodProps).map((k) => CONFIG_FIELD_NAMES[k as keyof typeof CONFIG_FIELD_NAMES]).sort());
    for (const [camel, p] of Object.entries(zodProps)) {
      const snake = CONFIG_FIELD_NAMES[camel as keyof typeof CONFIG_FIELD_NAMES];
      // The layer map is parsed by hand in the engine (null-prototype keys); zod sees "anything".
      if (camel === 'customQuantizationConfig') continue;
      expect(props[snake], snake).toEqual(expectedProperty(p));
    }
    expect(served.additionalProperties).toBe(false);
    expect(served.type).toBe('object');
    expect(served.required).toBeUndefined();
  });

  it('describes custom_quantization_config as layer name -> zod\'s layer override schema', () => {
    const layer = zodJson(layerOverrideSchema);
    const renamed = Object.fromEntries(Object.entries(layer.properties as Props).map(([k, v]) => [LAYER_OVERRIDE_FIELD_NAMES[k as keyof typeof LAYER_OVERRIDE_FIELD_NAMES], expectedProperty(v)]));
    expect(props.custom_quantization_config).toEqual({ type: 'object', additionalProperties: { type: 'object', additionalProperties: false, properties: renamed } });
  });

  it('takes the bit-width bounds and the enum cases from the engine', () => {
    expect(props.num_bits).toMatchObject({ type: 'integer', minimum: NUM_BITS_RANGE.min, maximum: NUM_BITS_RANGE.max });
    const layer = (props.custom_quantization_config.additionalProperties as JsonSchema).properties as Props;
    expect(layer.num_bits).toMatchObject({ minimum: NUM_BITS_RANGE.min, maximum: NUM_BITS_RANGE.max });
    // The engine upper-cases enum values: both spellings are documented and accepted.
    expect(props.quantization_type.enum).toEqual([...QUANTIZATION_TYPES, ...QUANTIZATION_TYPES.map((t) => t.toLowerCase())]);
    expect(props.outlier_threshold).toEqual({ anyOf: [{ const: null }, { type: 'number', exclusiveMinimum: 0 }] });
  });

  it('is generated once: the same frozen object every time', () => {
    expect(quantizerConfigJsonSchema()).toBe(served);
    expect(Object.isFrozen(served)).toBe(true);
    expect(served.$id).toBe('QuantizerConfigModel');
  });
});
