import { configToSnakeCase } from '../../contract/config-names.js';
import { parseQuantizerConfig } from '../../engine/config.js';
import { ApiError } from '../api-client.js';
import { buildConfigForm, type ConfigForm } from '../config-form.js';
import { errorText, h, showMessage } from '../dom.js';
import { formatNumber } from '../format-number.js';
import type { View, ViewContext } from './view.js';

/** Statistics shown per instance (StatsResponse fields), in this order. */
const STAT_COLUMNS = [
  ['quantize_calls', 'quantize calls'],
  ['dequantize_calls', 'dequantize calls'],
  ['total_values', 'values'],
  ['clipped_values', 'clipped'],
  ['last_scale', 'last scale'],
  ['last_zero_point', 'last zero point'],
  ['processing_time_ms', 'time (ms)'],
] as const;

export const POLL_MS = 2000;

/** The engine's defaults in the API's names: what a field left out of a create request becomes. */
function defaultConfig(): Record<string, unknown> {
  return configToSnakeCase(parseQuantizerConfig({}) as unknown as Record<string, unknown>);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The fields of `config` that differ from `base` (an untouched num_bits so follows a changed type, as on the service). */
export function changedFields(config: Record<string, unknown>, base: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).filter(([k, v]) => !same(v, base[k])));
}
const ID_PATTERN = '^[A-Za-z0-9_.\\-]{1,128}$';

/** GET /instances?detailed=true: every stored id, with whether the service can serve it and, if not, why. */
interface Listed {
  instance_id: string;
  available: boolean;
  detail?: string;
}

interface Row {
  tr: HTMLTableRowElement;
  cells: Map<string, HTMLTableCellElement>;
  kind: HTMLTableCellElement;
  available: boolean;
}

/** Instances: a live table (polled), create and edit forms generated from the config schema, delete. */
export function instancesView({ api }: ViewContext): View {
  const message = h('p', { class: 'message', hidden: true });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'data', 'aria-describedby': 'instances-caption' },
    h('caption', { id: 'instances-caption' }, `Instances and their statistics, refreshed every ${POLL_MS / 1000} s`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'instance'), h('th', { scope: 'col' }, 'type / mode'), ...STAT_COLUMNS.map(([, label]) => h('th', { scope: 'col', class: 'num' }, label)), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'actions')))),
    tbody,
  );
  const createMsg = h('p', { class: 'message', hidden: true });
  const editMsg = h('p', { class: 'message', hidden: true });
  const createId = h('input', { id: 'create-id', name: 'id', type: 'text', required: true, pattern: ID_PATTERN, maxlength: 128, autocomplete: 'off', 'aria-describedby': 'create-id-hint' });
  const createSection = h('section', { 'aria-labelledby': 'create-heading', class: 'panel' }, h('h2', { id: 'create-heading' }, 'Create an instance'));
  const editHeading = h('h2', { id: 'edit-heading', tabindex: -1 }, 'Edit configuration');
  const editSection = h('section', { 'aria-labelledby': 'edit-heading', class: 'panel', hidden: true }, editHeading);
  const element = h('div', { class: 'view' }, h('h1', {}, 'Instances'), message, h('div', { class: 'table-wrap' }, table), createSection, editSection);

  const rows = new Map<string, Row>();
  let createForm: ConfigForm | null = null;
  let editForm: ConfigForm | null = null;
  let editing: string | null = null;
  let editLoaded: Record<string, unknown> = {};
  const defaults = defaultConfig();
  let disposed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function deleteButton(id: string): HTMLButtonElement {
    const del = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete instance ${id}`, disabled: id === 'default', title: id === 'default' ? 'The default instance cannot be deleted' : null }, 'Delete');
    del.addEventListener('click', () => void remove(id));
    return del;
  }

  function rowFor(id: string): Row {
    const r = rows.get(id);
    if (r?.available) return r;
    r?.tr.remove();
    const cells = new Map(STAT_COLUMNS.map(([k]) => [k, h('td', { class: 'num', 'data-stat': k }, '—')]));
    const kind = h('td', { class: 'kind' }, '—');
    const edit = h('button', { type: 'button', 'aria-label': `Edit configuration of ${id}` }, 'Edit config');
    edit.addEventListener('click', () => void openEdit(id));
    const tr = h('tr', { 'data-instance': id }, h('th', { scope: 'row' }, id), kind, ...cells.values(), h('td', { class: 'actions' }, edit, deleteButton(id)));
    const row: Row = { tr, cells, kind, available: true };
    rows.set(id, row);
    return row;
  }

  /**
   * A stored record the service cannot load: listed with why (the service's own words), never
   * asked for statistics (every route of it answers 503); it can only be deleted.
   */
  function unavailableRowFor(id: string, detail: string): Row {
    let r = rows.get(id);
    if (r === undefined || r.available) {
      r?.tr.remove();
      const kind = h('td', { class: 'kind' }, 'unavailable');
      const reason = h('td', { class: 'row-error', colspan: STAT_COLUMNS.length, 'data-reason': '' });
      const tr = h('tr', { 'data-instance': id, 'data-available': 'false' }, h('th', { scope: 'row' }, id), kind, reason, h('td', { class: 'actions' }, deleteButton(id)));
      r = { tr, cells: new Map([['reason', reason]]), kind, available: false };
      rows.set(id, r);
    }
    r.cells.get('reason')!.textContent = detail;
    return r;
  }

  async function refresh(): Promise<void> {
    const listed = await api.get<Listed[]>('/instances?detailed=true');
    const ids = listed.map((l) => l.instance_id);
    for (const [id, r] of rows) {
      if (!ids.includes(id)) {
        r.tr.remove();
        rows.delete(id);
      }
    }
    const work = Promise.all(
      listed.map(async ({ instance_id: id, available, detail }) => {
        if (!available) {
          unavailableRowFor(id, detail ?? 'its stored record cannot be loaded');
          return;
        }
        const r = rowFor(id);
        const [stats, config] = await Promise.all([api.get<Record<string, number | null>>(`/instances/${encodeURIComponent(id)}/stats`), r.kind.dataset.loaded ? null : api.get<Record<string, unknown>>(`/instances/${encodeURIComponent(id)}/config`)]);
        for (const [k] of STAT_COLUMNS) {
          const v = stats[k];
          const cell = r.cells.get(k)!;
          cell.textContent = typeof v === 'number' ? (Number.isInteger(v) && k !== 'last_scale' ? v.toLocaleString('en-US') : formatNumber(v)) : '—';
          cell.dataset.value = String(v);
        }
        if (config) setKind(r.kind, config);
      }),
    );
    // Rows in the service's order; moved only when out of it (moving a row would take focus from its buttons).
    const order = ids.map((id) => rows.get(id)!.tr);
    if (order.some((tr, i) => tbody.children[i] !== tr)) tbody.replaceChildren(...order);
    await work;
  }

  function setKind(cell: HTMLTableCellElement, config: Record<string, unknown>) {
    cell.textContent = `${String(config.quantization_type)} / ${String(config.quantization_mode)}${config.symmetric ? ', symmetric' : ''}${config.per_channel ? ', per channel' : ''}`;
    cell.dataset.loaded = '1';
  }

  async function poll(): Promise<void> {
    try {
      await refresh();
      if (message.className.includes('error')) showMessage(message, '', 'info');
    } catch (e) {
      showMessage(message, `Could not refresh the instances: ${errorText(e)}`, 'error');
    }
    if (!disposed) timer = setTimeout(() => void poll(), POLL_MS);
  }

  async function remove(id: string): Promise<void> {
    if (!confirm(`Delete instance ${id}? Its configuration and calibration are removed.`)) return;
    try {
      const r = await api.request<{ message: string }>('DELETE', `/instances/${encodeURIComponent(id)}`);
      showMessage(message, r.message, 'ok');
      if (editing === id) editSection.hidden = true;
      await refresh();
    } catch (e) {
      showMessage(message, errorText(e instanceof ApiError ? e.detail : e), 'error');
    }
  }

  async function openEdit(id: string): Promise<void> {
    if (!editForm) return;
    try {
      const config = await api.get<Record<string, unknown>>(`/instances/${encodeURIComponent(id)}/config`);
      editing = id;
      editLoaded = config;
      editForm.fill(config);
      editHeading.textContent = `Edit configuration of ${id}`;
      editSection.hidden = false;
      showMessage(editMsg, '', 'info');
      editHeading.focus();
    } catch (e) {
      showMessage(message, errorText(e instanceof ApiError ? e.detail : e), 'error');
    }
  }

  function setUp(): void {
    // The contract's schema is the one the service validates with: no need to fetch /openapi.json.
    createForm = buildConfigForm('create');
    createForm.fill(defaults);
    const createEl = h(
      'form',
      { novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'create-id' }, 'instance id'), createId, h('small', { id: 'create-id-hint', class: 'hint' }, '1–128 of A–Z a–z 0–9 _ . -')),
      h('details', {}, h('summary', {}, 'Configuration (defaults unless changed)'), createForm.element),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create')),
      createMsg,
    );
    createEl.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void submitCreate();
    });
    createSection.append(createEl);

    editForm = buildConfigForm('edit');
    const editEl = h('form', { novalidate: true }, editForm.element, h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save configuration'), h('button', { type: 'button', onclick: () => (editSection.hidden = true) }, 'Close')), editMsg);
    editEl.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void submitEdit();
    });
    editSection.append(editEl);
  }

  async function submitCreate(): Promise<void> {
    const id = createId.value.trim();
    if (!new RegExp(ID_PATTERN).test(id)) {
      createId.setAttribute('aria-invalid', 'true');
      showMessage(createMsg, 'instance id: expected 1–128 characters of A–Z a–z 0–9 _ . -', 'error');
      createId.focus();
      return;
    }
    createId.removeAttribute('aria-invalid');
    const read = createForm!.read((c) => changedFields(c, defaults));
    if (!read.ok) {
      showMessage(createMsg, read.errors.join('; '), 'error');
      return;
    }
    try {
      // Only what was changed goes: the rest takes the service's defaults, as a hand-written request would.
      const r = await api.request<{ message: string }>('POST', `/instances/${encodeURIComponent(id)}`, { body: read.config });
      showMessage(createMsg, r.message, 'ok');
      createId.value = '';
      await refresh();
    } catch (e) {
      showMessage(createMsg, e instanceof ApiError ? `The service refused it (${e.status}): ${e.detail}` : errorText(e), 'error');
    }
  }

  async function submitEdit(): Promise<void> {
    if (editing === null) return;
    const read = editForm!.read((c) => {
      const body = { ...c };
      // A new type with untouched num_bits takes the new type's width (INT8 -> INT4: 4), not the old 8.
      if (body.quantization_type !== editLoaded.quantization_type && same(body.num_bits, editLoaded.num_bits)) delete body.num_bits;
      return body;
    });
    if (!read.ok) {
      showMessage(editMsg, read.errors.join('; '), 'error');
      return;
    }
    const body = read.config;
    try {
      const r = await api.request<{ message: string }>('PUT', `/instances/${encodeURIComponent(editing)}/config`, { body });
      showMessage(editMsg, r.message, 'ok');
      const row = rows.get(editing);
      if (row) setKind(row.kind, read.config);
    } catch (e) {
      showMessage(editMsg, e instanceof ApiError ? `The service refused it (${e.status}): ${e.detail}` : errorText(e), 'error');
    }
  }

  setUp();
  void poll();
  return {
    element,
    dispose() {
      disposed = true;
      clearTimeout(timer);
    },
  };
}
