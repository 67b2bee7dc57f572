import type uPlot from 'uplot';
import { DATA_OBSERVER_NAMES } from '../../core/observers/observer-catalog.js';
import { decodeNpy, encodeNpy, toFloat32 } from '../../formats/npy.js';
import { ApiError } from '../api-client.js';
import { histogramChart } from '../charts.js';
import { errorText, h, showMessage } from '../dom.js';
import { formatNumber } from '../format-number.js';
import type { Histogram } from '../histogram.js';
import { sampleActivations } from '../sample-data.js';
import { listInstances, type View, type ViewContext } from './view.js';

/**
 * The service's calibration report: what POST /instances/{id}/calibrate answers and
 * GET /instances/{id}/calibration repeats (the fields this view uses).
 */
export interface CalibrationAnswer {
  calibrated_at: string;
  layer_name: string | null;
  scale: number;
  zero_point: number;
  scales: number[];
  zero_points: number[];
  min: number | null;
  max: number | null;
  observed_min: number | null;
  observed_max: number | null;
  method: string;
  dtype: string;
  symmetric: boolean;
  batches: number;
  count: number;
  clipped_fraction: number;
  mse: number | null;
  sqnr_db: number | null;
  data_histogram: { edges: number[]; counts: number[]; non_finite: number };
  parameters: { qmin: number; qmax: number };
}

/** The values codes q ∈ [qmin, qmax] dequantize to: scale · (q − zeroPoint). */
export function gridValues(scale: number, zeroPoint: number, qmin: number, qmax: number): number[] {
  const out: number[] = [];
  for (let q = qmin; q <= qmax; q++) out.push(Math.fround(scale * (q - zeroPoint)));
  return out;
}

/**
 * The range a calibration keeps, as the chart draws it (values outside clip). Per tensor it is the
 * report's [min, max], made symmetric for a symmetric scheme: ±max(|min|, |max|), whatever the
 * data's smaller side (observed -60..120 keeps -120..120). Per channel, each channel has its own:
 * where its grid ends, scale · (qmin − zeroPoint) .. scale · (qmax − zeroPoint).
 */
export function keptRange(a: Pick<CalibrationAnswer, 'min' | 'max' | 'symmetric' | 'scales' | 'zero_points' | 'parameters'>, channel: number): [number, number] {
  if (a.scales.length > 1) {
    const scale = a.scales[channel];
    const zp = a.zero_points[channel];
    return [Math.fround(scale * (a.parameters.qmin - zp)), Math.fround(scale * (a.parameters.qmax - zp))];
  }
  const lo = a.min ?? 0;
  const hi = a.max ?? 0;
  if (!a.symmetric) return [lo, hi];
  const bound = Math.max(Math.abs(lo), Math.abs(hi));
  return [-bound, bound];
}

/** The report's data histogram in the chart's form. */
export function answerHistogram(a: CalibrationAnswer): Histogram {
  const { edges, counts, non_finite } = a.data_histogram;
  return { lo: edges[0], hi: edges[edges.length - 1], edges: Float64Array.from(edges), counts: Float64Array.from(counts), nonFinite: non_finite };
}

/**
 * Calibration: shows the instance's last calibration as the service keeps it (whoever made it:
 * this page, curl, a client of the contract), with the data's histogram, the chosen range, the
 * clipped tails shaded and the quantization grid, and the service's scale, zero point, MSE and
 * SQNR. Sending a .npy (or seeded sample data) to the calibrate route shows its answer likewise.
 */
export function calibrationView({ api }: ViewContext): View {
  const message = h('p', { class: 'message', hidden: true });
  const instanceSelect = h('select', { id: 'cal-instance', name: 'instance' });
  const fileInput = h('input', { id: 'cal-file', type: 'file', accept: '.npy,application/x-npy', 'aria-describedby': 'cal-file-hint' });
  const calibrateBtn = h('button', { type: 'submit', class: 'primary' }, 'Calibrate');
  const sampleBtn = h('button', { type: 'button' }, 'Calibrate on sample data');
  const reloadBtn = h('button', { type: 'button', id: 'cal-reload' }, 'Reload last calibration');
  const figures = h('dl', { class: 'figures', id: 'cal-figures' });
  const chartBox = h('div', { class: 'chart', role: 'img', id: 'cal-chart' });
  const channelField = h('div', { class: 'field', hidden: true });
  const channelSelect = h('select', { id: 'cal-channel' });
  channelField.append(h('label', { for: 'cal-channel' }, 'channel'), channelSelect);
  const none = h('p', { id: 'cal-none', class: 'hint', hidden: true });
  const observerSelect = h(
    'select',
    { id: 'cal-observer', name: 'observer', 'aria-describedby': 'cal-observer-hint' },
    h('option', { value: '' }, 'range settings of the config'),
    ...DATA_OBSERVER_NAMES.map((n) => h('option', { value: n }, n)),
  );
  // What the select showed before a change, to go back to should the service refuse it.
  let observerShown = '';
  const logCounts = h('input', { id: 'cal-log', type: 'checkbox' });
  const binsBody = h('tbody', {});
  const binsTable = h(
    'details',
    { id: 'cal-bins' },
    h('summary', {}, 'Histogram as a table'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' }, h('caption', {}, 'Calibration data per bin'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'from'), h('th', { scope: 'col' }, 'to'), h('th', { scope: 'col', class: 'num' }, 'count'))), binsBody)),
  );
  const legend = h(
    'ul',
    { class: 'chart-legend' },
    h('li', {}, h('span', { class: 'swatch bars' }), 'data (count per bin)'),
    h('li', {}, h('span', { class: 'swatch tails' }), 'clipped tails (outside the range)'),
    h('li', {}, h('span', { class: 'swatch grid' }), 'quantization grid (values codes map to)'),
  );
  const result = h(
    'section',
    { 'aria-labelledby': 'cal-result-heading', class: 'panel', hidden: true },
    h('h2', { id: 'cal-result-heading' }, 'Last calibration'),
    h('p', { id: 'cal-source', class: 'hint' }),
    channelField,
    figures,
    h('div', { class: 'chart-options' }, h('label', { for: 'cal-log' }, logCounts, ' count axis on a log scale (shows a few outliers beside a peak of thousands)')),
    chartBox,
    legend,
    binsTable,
  );
  const form = h(
    'form',
    { class: 'panel', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'cal-instance' }, 'instance'), instanceSelect),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'cal-observer' }, 'observer'),
      observerSelect,
      h('small', { id: 'cal-observer-hint', class: 'hint' }, "how the instance chooses its range from data (its config's observer); calibrate again to see another's"),
    ),
    h('div', { class: 'field' }, h('label', { for: 'cal-file' }, 'calibration data (.npy)'), fileInput, h('small', { id: 'cal-file-hint', class: 'hint' }, 'axis 0 indexes the batches; a 1-D array is one batch')),
    h('div', { class: 'form-actions' }, calibrateBtn, sampleBtn, reloadBtn),
  );
  const element = h('div', { class: 'view' }, h('h1', {}, 'Calibration'), message, form, none, result);
  let chart: uPlot | null = null;
  let current: { answer: CalibrationAnswer; source: string | null } | null = null;
  // Each load or calibration takes a ticket; an answer whose ticket is stale (the instance changed meanwhile) is dropped.
  let ticket = 0;

  async function calibrate(data: Float32Array, shape: number[], source: string): Promise<void> {
    const id = instanceSelect.value;
    const mine = ++ticket;
    // The route reads axis 0 as batches, so one flat array goes as a single batch.
    const sendShape = shape.length >= 2 ? shape : [1, data.length];
    const body = encodeNpy({ dtype: 'float32', shape: sendShape, data });
    calibrateBtn.disabled = sampleBtn.disabled = true;
    showMessage(message, `Calibrating ${id}…`, 'info');
    try {
      const answer = await api.request<CalibrationAnswer>('POST', `/instances/${encodeURIComponent(id)}/calibrate`, { body, contentType: 'application/x-npy' });
      if (mine !== ticket) return;
      showMessage(message, `Calibrated ${id} on ${source}.`, 'ok');
      show(answer, source);
    } catch (e) {
      showMessage(message, e instanceof ApiError ? `The service refused it (${e.status}): ${e.detail}` : errorText(e), 'error');
    } finally {
      calibrateBtn.disabled = sampleBtn.disabled = false;
    }
  }

  /** Shows the observer of the instance's config ('' when its range settings choose). */
  async function loadObserver(id: string): Promise<void> {
    try {
      const config = await api.get<{ observer?: { name: string } | null }>(`/instances/${encodeURIComponent(id)}/config`);
      if (id !== instanceSelect.value) return;
      const name = config.observer?.name ?? '';
      // An observer the list does not offer (one that needs options, set through the API) still shows.
      if (!Array.from(observerSelect.options).some((o) => o.value === name)) observerSelect.append(h('option', { value: name }, name));
      observerSelect.value = observerShown = name;
    } catch (e) {
      showMessage(message, `Could not read the configuration of ${id}: ${errorText(e)}`, 'error');
    }
  }

  /** Replaces the instance's observer (the rest of its config as it is); its next calibration uses it. */
  async function setObserver(): Promise<void> {
    const id = instanceSelect.value;
    const name = observerSelect.value;
    observerSelect.disabled = true;
    try {
      const config = await api.get<Record<string, unknown>>(`/instances/${encodeURIComponent(id)}/config`);
      await api.request('PUT', `/instances/${encodeURIComponent(id)}/config`, { body: { ...config, observer: name === '' ? null : { name, options: {} } } });
      observerShown = name;
      showMessage(message, `${id} now chooses its range with ${name === '' ? 'the range settings of its config' : `the ${name} observer`}: calibrate again to see it.`, 'ok');
    } catch (e) {
      observerSelect.value = observerShown;
      showMessage(message, e instanceof ApiError ? `The service refused it (${e.status}): ${e.detail}` : errorText(e), 'error');
    } finally {
      observerSelect.disabled = false;
    }
  }

  /** Asks the service for the instance's last calibration; a 404 means it has none yet. */
  async function loadLast(): Promise<void> {
    const id = instanceSelect.value;
    if (!id) return;
    void loadObserver(id);
    const mine = ++ticket;
    try {
      const answer = await api.get<CalibrationAnswer>(`/instances/${encodeURIComponent(id)}/calibration`);
      if (mine !== ticket) return;
      show(answer, null);
    } catch (e) {
      if (mine !== ticket) return;
      if (e instanceof ApiError && e.status === 404) {
        hideResult(`${id} has not been calibrated yet: calibrate it here, or through the API (POST /instances/${id}/calibrate).`);
        return;
      }
      hideResult('');
      showMessage(message, `Could not load the last calibration of ${id}: ${errorText(e)}`, 'error');
    }
  }

  function hideResult(note: string): void {
    current = null;
    chart?.destroy();
    chart = null;
    result.hidden = true;
    none.textContent = note;
    none.hidden = note === '';
  }

  function show(a: CalibrationAnswer, source: string | null, channel = 0): void {
    current = { answer: a, source };
    none.hidden = true;
    const channels = a.scales.length;
    channelField.hidden = channels <= 1;
    if (channels > 1 && channelSelect.options.length !== channels) {
      channelSelect.replaceChildren(...a.scales.map((_, c) => h('option', { value: c }, String(c))));
    }
    if (channels <= 1) channelSelect.replaceChildren();
    const scale = a.scales[channel];
    const zp = a.zero_points[channel];
    // The report's range spans every channel and the observed data; what is kept is where the grid ends.
    const [lo, hi] = keptRange(a, channel);
    const item = (term: string, value: number | string | null, key: string, raw?: string) =>
      [h('dt', {}, term), h('dd', { 'data-figure': key, 'data-value': raw ?? (typeof value === 'number' ? String(value) : null) }, typeof value === 'number' ? formatNumber(value, 6) : value ?? '—')];
    figures.replaceChildren(
      ...item('scale', scale, 'scale'),
      ...item('zero point', zp, 'zero_point'),
      ...item(channels > 1 ? 'grid range [min, max]' : 'range [min, max]', `[${formatNumber(lo, 6)}, ${formatNumber(hi, 6)}]`, 'range', JSON.stringify([lo, hi])),
      ...item('observed [min, max]', `[${formatNumber(a.observed_min ?? NaN, 6)}, ${formatNumber(a.observed_max ?? NaN, 6)}]`, 'observed', JSON.stringify([a.observed_min, a.observed_max])),
      ...item('MSE', a.mse, 'mse'),
      ...item('SQNR (dB)', a.sqnr_db === null ? '∞' : a.sqnr_db, 'sqnr_db'),
      ...item('clipped', `${formatNumber(a.clipped_fraction * 100, 4)} %`, 'clipped', String(a.clipped_fraction)),
      ...item('codes', `${a.dtype}, q ∈ [${a.parameters.qmin}, ${a.parameters.qmax}]`, 'dtype'),
      ...item('observer', `${a.method}, ${a.batches} batch${a.batches === 1 ? '' : 'es'}`, 'method'),
    );
    const hist = answerHistogram(a);
    const when = new Date(a.calibrated_at);
    const parts = [
      `Data: ${source ?? `${a.count} values`}`,
      `calibrated ${Number.isNaN(when.getTime()) ? a.calibrated_at : when.toLocaleString()}`,
      a.layer_name !== null ? `layer ${a.layer_name}` : '',
      hist.nonFinite ? `${hist.nonFinite} non-finite values not drawn` : '',
      channels > 1 ? `${channels} channels: the grid and range are those of the chosen channel, the histogram is of all data` : '',
    ].filter((p) => p !== '');
    (result.querySelector('#cal-source') as HTMLElement).textContent = `${parts.join('; ')}.`;
    result.hidden = false;
    chart?.destroy();
    chartBox.replaceChildren();
    const countScale = logCounts.checked ? 'log' : 'linear';
    chartBox.dataset.countScale = countScale;
    chartBox.dataset.range = JSON.stringify([lo, hi]);
    chartBox.setAttribute(
      'aria-label',
      `Histogram of the calibration data from ${formatNumber(hist.lo)} to ${formatNumber(hist.hi)}; range kept [${formatNumber(lo)}, ${formatNumber(hi)}], ${formatNumber(a.clipped_fraction * 100)} % clipped${countScale === 'log' ? '; counts on a log scale' : ''}.`,
    );
    chart = histogramChart(chartBox, hist, { range: [lo, hi], grid: gridValues(scale, zp, a.parameters.qmin, a.parameters.qmax), countScale });
    binsBody.replaceChildren(
      ...Array.from(hist.counts, (c, i) => h('tr', { 'data-bin': i }, h('td', {}, formatNumber(hist.edges[i], 6)), h('td', {}, formatNumber(hist.edges[i + 1], 6)), h('td', { class: 'num', 'data-value': c }, String(c)))),
    );
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) {
      showMessage(message, 'Choose a .npy file first (or calibrate on sample data).', 'error');
      fileInput.focus();
      return;
    }
    void file.arrayBuffer().then(
      (buf) => {
        try {
          const arr = decodeNpy(new Uint8Array(buf));
          return calibrate(toFloat32(arr), arr.shape, file.name);
        } catch (e) {
          showMessage(message, `${file.name}: ${errorText(e)}`, 'error');
        }
      },
      (e: unknown) => showMessage(message, errorText(e), 'error'),
    );
  });
  sampleBtn.addEventListener('click', () => {
    const s = sampleActivations(64, 256);
    void calibrate(s.data, s.shape, 'sample data (64 × 256, normal with 0.5 % outliers, seed 7)');
  });
  reloadBtn.addEventListener('click', () => {
    showMessage(message, '', 'info');
    void loadLast();
  });
  instanceSelect.addEventListener('change', () => {
    showMessage(message, '', 'info');
    void loadLast();
  });
  const redraw = () => current && show(current.answer, current.source, Number(channelSelect.value || 0));
  channelSelect.addEventListener('change', redraw);
  logCounts.addEventListener('change', redraw);
  observerSelect.addEventListener('change', () => void setObserver());

  void listInstances(api).then(
    (ids) => {
      instanceSelect.replaceChildren(...ids.map((id) => h('option', { value: id }, id)));
      return loadLast();
    },
    (e: unknown) => showMessage(message, `Could not list the instances: ${errorText(e)}`, 'error'),
  );
  return {
    element,
    dispose() {
      chart?.destroy();
    },
  };
}
