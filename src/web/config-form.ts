import { QuantError } from '../core/errors.js';
import { configFromSnakeCase } from '../engine/config-names.js';
import { parseQuantizerConfig } from '../engine/config.js';
import { h } from './dom.js';

/** The subset of JSON Schema the service's QuantizerConfigModel uses. */
export interface FieldSchema {
  type?: string | string[];
  enum?: (string | null)[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  const?: unknown;
  anyOf?: FieldSchema[];
  items?: FieldSchema;
  maxItems?: number;
  description?: string;
  additionalProperties?: boolean | FieldSchema;
  properties?: Record<string, FieldSchema>;
}

export interface ObjectSchema {
  properties: Record<string, FieldSchema>;
  additionalProperties?: boolean;
}

/** The create-instance body schema out of the service's /openapi.json (the schema fastify validates with). */
export function configSchemaFromOpenApi(doc: unknown): ObjectSchema {
  const d = doc as { paths?: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: ObjectSchema }> } }>> };
  const schema = d.paths?.['/instances/{instance_id}']?.post?.requestBody?.content?.['application/json']?.schema;
  if (!schema || typeof schema.properties !== 'object') {
    throw new QuantError('MALFORMED_FILE', 'expected /openapi.json to describe the body of POST /instances/{instance_id} (QuantizerConfigModel), found none');
  }
  return schema;
}

/**
 * The null branch of a nullable field: `type: 'null'`, or `const: null`, which the service uses where
 * coercion must not turn 0 or "" into null and which the OpenAPI document spells `enum: [null]`.
 */
function isNullBranch(a: FieldSchema): boolean {
  return a.type === 'null' || a.const === null || (a.enum !== undefined && a.enum.length === 1 && a.enum[0] === null);
}

type Kind = 'enum' | 'boolean' | 'integer' | 'number' | 'nullable-number' | 'string-list' | 'object' | 'nullable-object' | 'string';

/** The control a field gets, from its schema. */
export function kindOf(s: FieldSchema): Kind {
  if (s.enum) return 'enum';
  if (s.anyOf) {
    const inner = s.anyOf.find((a) => !isNullBranch(a));
    if (inner && (inner.type === 'number' || inner.type === 'integer')) return 'nullable-number';
    if (inner?.type === 'object') return 'nullable-object';
    return 'string';
  }
  if (s.type === 'boolean') return 'boolean';
  if (s.type === 'integer') return 'integer';
  if (s.type === 'number') return 'number';
  if (s.type === 'array') return 'string-list';
  if (s.type === 'object') return 'object';
  return 'string';
}

function numberBounds(s: FieldSchema): FieldSchema {
  return s.anyOf?.find((a) => !isNullBranch(a)) ?? s;
}

/**
 * The schema's own rules on one value, with ajv's wording (what the service's 422 says):
 * "must be <= 16", "must be integer", "must be equal to one of the allowed values".
 */
export function checkField(s: FieldSchema, v: unknown): string | null {
  if (v === null) return s.anyOf?.some(isNullBranch) ? null : 'must not be empty';
  if (s.enum) return typeof v === 'string' && s.enum.includes(v) ? null : 'must be equal to one of the allowed values';
  const b = numberBounds(s);
  if (b.type === 'integer' || b.type === 'number') {
    if (typeof v !== 'number' || Number.isNaN(v)) return `must be ${b.type === 'integer' ? 'integer' : 'number'}`;
    if (b.type === 'integer' && !Number.isInteger(v)) return 'must be integer';
    if (b.minimum !== undefined && v < b.minimum) return `must be >= ${b.minimum}`;
    if (b.maximum !== undefined && v > b.maximum) return `must be <= ${b.maximum}`;
    if (b.exclusiveMinimum !== undefined && v <= b.exclusiveMinimum) return `must be > ${b.exclusiveMinimum}`;
    return null;
  }
  if (s.type === 'array') {
    if (!Array.isArray(v)) return 'must be array';
    if (s.maxItems !== undefined && v.length > s.maxItems) return `must NOT have more than ${s.maxItems} items`;
    return null;
  }
  if (s.type === 'object') return v !== null && typeof v === 'object' && !Array.isArray(v) ? null : 'must be object';
  if (s.type === 'boolean') return typeof v === 'boolean' ? null : 'must be boolean';
  return null;
}

const humanize = (name: string) => name.replace(/_/g, ' ');

export interface ConfigForm {
  readonly element: HTMLFieldSetElement;
  /** Puts a config's values (snake_case) into the fields. */
  fill(config: Record<string, unknown>): void;
  /**
   * Reads and validates the fields: first the schema's rules per field (as fastify's validator),
   * then the engine's own config rules (cross-field ones such as min_percentile < max_percentile),
   * which the service applies next, on the body that will be sent (`toBody` of the field values,
   * default all of them). Invalid fields get aria-invalid and a message beside them.
   */
  read(toBody?: (config: Record<string, unknown>) => Record<string, unknown>): { ok: true; config: Record<string, unknown> } | { ok: false; errors: string[] };
}

/** A fieldset with one labelled control per config field, generated from the schema. */
export function buildConfigForm(schema: ObjectSchema, idPrefix: string): ConfigForm {
  const fields = Object.entries(schema.properties);
  const controls = new Map<string, { input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement; kind: Kind; error: HTMLElement }>();
  const element = h('fieldset', { class: 'config-form' }, h('legend', {}, 'Configuration'));
  for (const [name, s] of fields) {
    const kind = kindOf(s);
    const id = `${idPrefix}-${name}`;
    const hintId = `${id}-hint`;
    const errId = `${id}-error`;
    let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
    const b = numberBounds(s);
    if (kind === 'enum') {
      // The schema accepts both cases; the form offers the canonical upper-case names.
      const options = [...new Set(s.enum!.filter((v): v is string => typeof v === 'string').map((v) => v.toUpperCase()))];
      input = h('select', { id, name }, ...options.map((o) => h('option', { value: o }, o)));
    } else if (kind === 'boolean') {
      input = h('input', { id, name, type: 'checkbox' });
    } else if (kind === 'integer' || kind === 'number' || kind === 'nullable-number') {
      input = h('input', {
        id,
        name,
        type: 'number',
        inputmode: b.type === 'integer' ? 'numeric' : 'decimal',
        step: b.type === 'integer' ? 1 : 'any',
        min: b.minimum ?? null,
        max: b.maximum ?? null,
        placeholder: kind === 'nullable-number' ? 'none' : null,
      });
    } else if (kind === 'object') {
      input = h('textarea', { id, name, rows: 2, spellcheck: false, placeholder: '{"layer.name": {"quantization_type": "INT4"}}' });
    } else if (kind === 'nullable-object') {
      input = h('textarea', { id, name, rows: 2, spellcheck: false, placeholder: 'none' });
    } else {
      input = h('input', { id, name, type: 'text', placeholder: kind === 'string-list' ? 'comma-separated' : null });
    }
    input.setAttribute('aria-describedby', `${hintId} ${errId}`);
    const hint = [s.description, b.minimum !== undefined || b.maximum !== undefined ? `range ${b.minimum ?? '−∞'}…${b.maximum ?? '∞'}` : null, kind === 'string-list' ? 'comma-separated names' : null, kind === 'object' ? 'JSON object' : kind === 'nullable-object' ? 'JSON object, empty for none' : null]
      .filter(Boolean)
      .join('; ');
    const error = h('span', { id: errId, class: 'field-error', hidden: true });
    element.append(h('div', { class: `field field-${kind}` }, h('label', { for: id }, humanize(name)), input, h('small', { id: hintId, class: 'hint' }, hint), error));
    controls.set(name, { input, kind, error });
  }

  function fill(config: Record<string, unknown>): void {
    for (const [name, { input, kind }] of controls) {
      const v = config[name];
      if (kind === 'boolean') (input as HTMLInputElement).checked = v === true;
      else if (kind === 'string-list') input.value = Array.isArray(v) ? v.join(', ') : '';
      else if (kind === 'object') input.value = v && typeof v === 'object' && Object.keys(v).length > 0 ? JSON.stringify(v) : '';
      else if (kind === 'nullable-object') input.value = v && typeof v === 'object' ? JSON.stringify(v) : '';
      else if (kind === 'enum') input.value = typeof v === 'string' ? v.toUpperCase() : (input as HTMLSelectElement).options[0]?.value ?? '';
      else input.value = v === null || v === undefined ? '' : String(v);
    }
  }

  function read(toBody: (config: Record<string, unknown>) => Record<string, unknown> = (c) => c): ReturnType<ConfigForm['read']> {
    let config: Record<string, unknown> = {};
    const errors: string[] = [];
    for (const [name, { input, kind, error }] of controls) {
      let v: unknown;
      let problem: string | null = null;
      const raw = input.value.trim();
      if (kind === 'boolean') v = (input as HTMLInputElement).checked;
      else if (kind === 'string-list') v = raw === '' ? [] : raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
      else if (kind === 'object' || kind === 'nullable-object') {
        try {
          v = raw === '' ? (kind === 'object' ? {} : null) : JSON.parse(raw);
        } catch {
          problem = 'must be a JSON object';
        }
      } else if (kind === 'integer' || kind === 'number' || kind === 'nullable-number') {
        // An empty optional number means "none" (null) or, for plain numbers, the default.
        if (raw === '') v = kind === 'nullable-number' ? null : undefined;
        else v = Number(raw);
      } else v = raw;
      if (problem === null && v !== undefined) problem = checkField(schema.properties[name], v);
      error.textContent = problem ? `${humanize(name)} ${problem}` : '';
      error.hidden = problem === null;
      if (problem) {
        input.setAttribute('aria-invalid', 'true');
        errors.push(`${name}: ${problem}`);
      } else input.removeAttribute('aria-invalid');
      if (v !== undefined) config[name] = v;
    }
    if (errors.length === 0) {
      config = toBody(config);
      try {
        parseQuantizerConfig(configFromSnakeCase(config));
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    return errors.length ? { ok: false, errors } : { ok: true, config };
  }

  return { element, fill, read };
}
