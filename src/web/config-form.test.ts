import { describe, expect, it } from 'vitest';
import { quantizerConfigModel } from '../server/schemas.js';
import { checkField, configSchemaFromOpenApi, kindOf, type FieldSchema } from './config-form.js';

const props = quantizerConfigModel.properties as unknown as Record<string, FieldSchema>;

describe('checkField (the service schema rules, in ajv wording)', () => {
  it('checks bounds, integers, enums, nullable numbers and arrays', () => {
    expect(checkField(props.num_bits, 99)).toBe('must be <= 16');
    expect(checkField(props.num_bits, 1)).toBe('must be >= 2');
    expect(checkField(props.num_bits, 4.5)).toBe('must be integer');
    expect(checkField(props.num_bits, 8)).toBeNull();
    expect(checkField(props.quantization_type, 'INT3')).toBe('must be equal to one of the allowed values');
    expect(checkField(props.quantization_type, 'int4')).toBeNull();
    expect(checkField(props.outlier_threshold, null)).toBeNull();
    expect(checkField(props.outlier_threshold, 0)).toBe('must be > 0');
    expect(checkField(props.skip_layers, ['a'])).toBeNull();
    expect(checkField(props.max_percentile, 101)).toBe('must be <= 100');
  });

  it('takes a nullable number as the OpenAPI document spells it (the null branch as enum [null])', () => {
    // The service's schema has `const: null` (no coercion of 0 or "" to null); /openapi.json says `enum: [null]`.
    const documented: FieldSchema = { anyOf: [{ enum: [null] }, { type: 'number', exclusiveMinimum: 0 }] };
    expect(checkField(documented, null)).toBeNull();
    expect(checkField(documented, 0)).toBe('must be > 0');
    expect(checkField(documented, 2.5)).toBeNull();
  });

  it('gives the observer field a JSON control that is null when empty', () => {
    expect(kindOf(props.observer)).toBe('nullable-object');
    expect(kindOf(props.custom_quantization_config)).toBe('object');
    expect(checkField(props.observer, null)).toBeNull();
  });

  it('finds the create body schema in an OpenAPI document, and says when it is missing', () => {
    const doc = { paths: { '/instances/{instance_id}': { post: { requestBody: { content: { 'application/json': { schema: { properties: props } } } } } } } };
    expect(Object.keys(configSchemaFromOpenApi(doc).properties)).toContain('num_bits');
    expect(() => configSchemaFromOpenApi({ paths: {} })).toThrow(/QuantizerConfigModel/);
  });
});
