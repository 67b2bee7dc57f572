import { checkHttpConfig } from '../contract/check-http-config.js';
import { quantizerConfigJsonSchema } from '../contract/config-json-schema.js';
import { h } from './dom.js';

/** The subset of JSON Schema the contract's QuantizerConfigModel uses. */
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

/** The null branch of a nullable field (the contract spells it `const: null`). */
function isNullBranch(a: FieldSchema): boolean {
  return a.type === 'null' || a.const === null;
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

const humanize = (name: string) => name.replace(/_/g, ' ');

export interface ConfigForm {
  readonly element: HTMLFieldSetElement;
  /** Puts a config's values (snake_case) into the fields. */
  fill(config: Record<string, unknown>): void;
  /**
   * Reads the fields and validates the body that will be sent (`toBody` of the field values,
   * default all of them) with the engine's schema through the HTTP contract: every rule the
   * service applies, the cross-field ones (min_percentile < max_percentile, bits per type)
   * included. Each field a problem belongs to gets aria-invalid and the message beside it.
   */
  read(toBody?: (config: Record<string, unknown>) => Record<string, unknown>): { ok: true; config: Record<string, unknown> } | { ok: false; errors: string[] };
}

/**
 * A fieldset with one labelled control per config field, generated from the contract's JSON Schema
 * (the one the service validates with and documents).
 */
export function buildConfigForm(idPrefix: string, schema: ObjectSchema = quantizerConfigJsonSchema() as unknown as ObjectSchema): ConfigForm {
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

  function show(name: string, problems: string[]): void {
    const { input, error } = controls.get(name)!;
    error.textContent = problems.map((p) => `${humanize(name)}: ${p}`).join('; ');
    error.hidden = problems.length === 0;
    if (problems.length) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function read(toBody: (config: Record<string, unknown>) => Record<string, unknown> = (c) => c): ReturnType<ConfigForm['read']> {
    const config: Record<string, unknown> = {};
    const problems = new Map<string, string[]>([...controls.keys()].map((name) => [name, []]));
    const errors: string[] = [];
    for (const [name, { input, kind }] of controls) {
      let v: unknown;
      const raw = input.value.trim();
      if (kind === 'boolean') v = (input as HTMLInputElement).checked;
      else if (kind === 'string-list') v = raw === '' ? [] : raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
      else if (kind === 'object' || kind === 'nullable-object') {
        try {
          v = raw === '' ? (kind === 'object' ? {} : null) : JSON.parse(raw);
        } catch {
          problems.get(name)!.push('expected a JSON object');
          continue;
        }
      } else if (kind === 'integer' || kind === 'number' || kind === 'nullable-number') {
        // An empty optional number means "none" (null) or, for plain numbers, the default.
        if (raw === '') v = kind === 'nullable-number' ? null : undefined;
        else v = Number(raw);
      } else v = raw;
      if (v !== undefined) config[name] = v;
    }
    let body: Record<string, unknown> | null = null;
    if ([...problems.values()].every((p) => p.length === 0)) {
      body = toBody(config);
      const checked = checkHttpConfig(body);
      if (!checked.ok) {
        for (const iss of checked.issues) {
          const where = iss.path.join('.');
          errors.push(`${where || 'config'}: ${iss.message}`);
          const inner = iss.path.slice(1).join('.');
          if (iss.field !== null && problems.has(iss.field)) problems.get(iss.field)!.push(inner ? `${inner}: ${iss.message}` : iss.message);
        }
      }
    } else {
      for (const [name, p] of problems) for (const m of p) errors.push(`${name}: ${m}`);
    }
    for (const [name, p] of problems) show(name, p);
    return errors.length || body === null ? { ok: false, errors } : { ok: true, config: body };
  }

  return { element, fill, read };
}
