import { NdArray } from './body/nd-array.js';
import type { NdArraySchemaOptions } from './schemas.js';

interface KeywordError {
  keyword: string;
  message: string;
  params: Record<string, unknown>;
}

type KeywordValidate = ((schema: Required<NdArraySchemaOptions>, data: unknown) => boolean) & { errors?: KeywordError[] };

function fail(v: KeywordValidate, message: string): false {
  v.errors = [{ keyword: 'x-ndarray', message, params: {} }];
  return false;
}

/**
 * An ajv plugin (fastify's `ajv.plugins`) defining `x-ndarray`: the value must be an NdArray (the
 * body parser made it from nested arrays or a .npy body) of at least minRank dimensions, not
 * empty, and integral when asked.
 */
export function ndArrayKeyword(ajv: { addKeyword(def: Record<string, unknown>): unknown }): unknown {
  const validate: KeywordValidate = (schema, data) => {
    if (!(data instanceof NdArray)) return fail(validate, 'expected nested arrays of numbers');
    if (data.shape.length < schema.minRank) {
      return fail(validate, `expected an array of at least ${schema.minRank} dimensions, got shape [${data.shape.join(', ')}]`);
    }
    if (data.size === 0) return fail(validate, `expected at least one element, got an empty array of shape [${data.shape.join(', ')}]`);
    if (schema.integral && !data.integral) return fail(validate, 'expected integer codes, got non-integer numbers');
    return true;
  };
  ajv.addKeyword({ keyword: 'x-ndarray', errors: true, schemaType: 'object', validate });
  return ajv;
}

/** The OpenAPI face of an x-ndarray schema: nested arrays of numbers (the keyword stays as an extension). */
export function documentNdArrays(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(documentNdArrays);
  if (schema === null || typeof schema !== 'object') return schema;
  const o = schema as Record<string, unknown>;
  if ('x-ndarray' in o) {
    const { integral } = o['x-ndarray'] as Required<NdArraySchemaOptions>;
    const leaf = { type: integral ? 'integer' : 'number' };
    return { ...o, type: 'array', items: { anyOf: [leaf, { type: 'array', items: {} }] }, example: [[1.2, 3.4, 5.6], [7.8, 9.0, 2.1]].map((r) => (integral ? r.map(Math.round) : r)) };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = documentNdArrays(v);
  return out;
}
