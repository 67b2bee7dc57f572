import type uPlot from 'uplot';
import { decodeNpy, encodeNpy, toFloat32 } from '../../formats/npy.js';
import { ApiError } from '../api-client.js';
import { histogramChart } from '../charts.js';
import { errorText, h, showMessage } from '../dom.js';
import { formatNumber } from '../format-number.js';
import { computeHistogram, type Histogram } from '../histogram.js';
import { sampleActivations } from '../sample-data.js';
import { listInstances, type View, type ViewContext } from './view.js';

/** The calibrate route's answer (the fields this view uses). */
export interface CalibrateAnswer {
  scale: number | null;
  zero_point: number | null;
  scales: number[];
  zero_points: number[];
  min: number | number[];
  max: number | number[];
  observed_min: number | number[];
  observed_max: number | number[];
  method: string;
  dtype: string;
  batches: number;
  clipped_fraction: number;
  mse: number;
  sqnr_db: number | null;
  parameters: { qmin: number; qmax: number };
}

/** A calibration and the histogram of the data it saw, kept per instance for this tab. */
interface StoredCalibration {
  answer: CalibrateAnswer;
  source: string;
  hist: { lo: number; hi: number; edges: number[]; counts: number[]; nonFinite: number };
}

const STORE_PREFIX = 'quantkit.calibration.';
const BINS = 120;

const at = (v: number | number[], c: number) => (Array.isArray(v) ? v[c] : v);

/** The values codes q ∈ [qmin, qmax] dequantize to: scale · (q − zeroPoint). */
export function gridValues(scale: number, zeroPoint: number, qmin: number, qmax: number): number[] {
  const out: number[] = [];
  for (let q = qmin; q <= qmax; q++) out.push(Math.fround(scale * (q - zeroPoint)));
  return out;
}

/**
 * Calibration: send a .npy (or seeded sample data) to the instance's calibrate route, then show the
 * data's histogram with the chosen range, the clipped tails shaded and the quantization grid, and
 * the route's scale, zero point, MSE and SQNR.
 */
export function calibrationView({ api }: ViewContext): View {
  const message = h('p', { class: 'message', hidden: true });
  const instanceSelect = h('select', { id: 'cal-instance', name: 'instance' });
  const fileInput = h('input', { id: 'cal-file', type: 'file', accept: '.npy,application/x-npy', 'aria-describedby': 'cal-file-hint' });
  const calibrateBtn = h('button', { type: 'submit', class: 'primary' }, 'Calibrate');
  const sampleBtn = h('button', { type: 'button' }, 'Calibrate on sample data');
  const figures = h('dl', { class: 'figures', id: 'cal-figures' });
  const chartBox = h('div', { class: 'chart', role: 'img', id: 'cal-chart' });
  const channelField = h('div', { class: 'field', hidden: true });
  const channelSelect = h('select', { id: 'cal-channel' });
  channelField.append(h('label', { for: 'cal-channel' }, 'channel'), channelSelect);
  const legend = h(
    'ul',
    { class: 'chart-legend' },
    h('li', {}, h('span', { class: 'swatch bars' }), 'data (count per bin)'),
    h('li', {}, h('span', { class: 'swatch tails' }), 'clipped tails (outside the range)'),
    h('li', {}, h('span', { class: 'swatch grid' }), 'quantization grid (values codes map to)'),
  );
  const result = h('section', { 'aria-labelledby': 'cal-result-heading', class: 'panel', hidden: true }, h('h2', { id: 'cal-result-heading' }, 'Last calibration'), h('p', { id: 'cal-source', class: 'hint' }), channelField, figures, chartBox, legend);
  const form = h(
    'form',
    { class: 'panel', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'cal-instance' }, 'instance'), instanceSelect),
    h('div', { class: 'field' }, h('label', { for: 'cal-file' }, 'calibration data (.npy)'), fileInput, h('small', { id: 'cal-file-hint', class: 'hint' }, 'axis 0 indexes the batches; a 1-D array is one batch')),
    h('div', { class: 'form-actions' }, calibrateBtn, sampleBtn),
  );
  const element = h('div', { class: 'view' }, h('h1', {}, 'Calibration'), message, form, result);
  let chart: uPlot | null = null;
  let current: StoredCalibration | null = null;

  async function calibrate(data: Float32Array, shape: number[], source: string): Promise<void> {
    const id = instanceSelect.value;
    // The route reads axis 0 as batches, so one flat array goes as a single batch.
    const sendShape = shape.length >= 2 ? shape : [1, data.length];
    const body = encodeNpy({ dtype: 'float32', shape: sendShape, data });
    calibrateBtn.disabled = sampleBtn.disabled = true;
    showMessage(message, `Calibrating ${id}…`, 'info');
    try {
      const answer = await api.request<CalibrateAnswer>('POST', `/instances/${encodeURIComponent(id)}/calibrate`, { body, contentType: 'application/x-npy' });
      const range = [...[answer.min, answer.max, answer.observed_min, answer.observed_max].flat()];
      const hist = computeHistogram(data, BINS, range);
      const stored: StoredCalibration = { answer, source, hist: { lo: hist.lo, hi: hist.hi, edges: Array.from(hist.edges), counts: Array.from(hist.counts), nonFinite: hist.nonFinite } };
      try {
        sessionStorage.setItem(STORE_PREFIX + id, JSON.stringify(stored));
      } catch {
        // Storage full: the result still shows, it just is not kept for the next visit.
      }
      showMessage(message, `Calibrated ${id} on ${source}.`, 'ok');
      show(stored);
    } catch (e) {
      showMessage(message, e instanceof ApiError ? `The service refused it (${e.status}): ${e.detail}` : errorText(e), 'error');
    } finally {
      calibrateBtn.disabled = sampleBtn.disabled = false;
    }
  }

  function show(stored: StoredCalibration, channel = 0): void {
    current = stored;
    const a = stored.answer;
    const channels = a.scales.length;
    channelField.hidden = channels <= 1;
    if (channels > 1 && channelSelect.options.length !== channels) {
      channelSelect.replaceChildren(...a.scales.map((_, c) => h('option', { value: c }, String(c))));
    }
    const scale = a.scales[channel];
    const zp = a.zero_points[channel];
    const lo = at(a.min, channel);
    const hi = at(a.max, channel);
    const item = (term: string, value: number | string | null, key: string) =>
      [h('dt', {}, term), h('dd', { 'data-figure': key, 'data-value': typeof value === 'number' ? String(value) : null }, typeof value === 'number' ? formatNumber(value, 6) : value ?? '—')];
    figures.replaceChildren(
      ...item('scale', scale, 'scale'),
      ...item('zero point', zp, 'zero_point'),
      ...item('range [min, max]', `[${formatNumber(lo, 6)}, ${formatNumber(hi, 6)}]`, 'range'),
      ...item('observed [min, max]', `[${formatNumber(at(a.observed_min, channel), 6)}, ${formatNumber(at(a.observed_max, channel), 6)}]`, 'observed'),
      ...item('MSE', a.mse, 'mse'),
      ...item('SQNR (dB)', a.sqnr_db === null ? '∞' : a.sqnr_db, 'sqnr_db'),
      ...item('clipped', `${formatNumber(a.clipped_fraction * 100, 4)} %`, 'clipped'),
      ...item('codes', `${a.dtype}, q ∈ [${a.parameters.qmin}, ${a.parameters.qmax}]`, 'dtype'),
      ...item('observer', `${a.method}, ${a.batches} batch${a.batches === 1 ? '' : 'es'}`, 'method'),
    );
    (result.querySelector('#cal-source') as HTMLElement).textContent = `Data: ${stored.source}${stored.hist.nonFinite ? ` (${stored.hist.nonFinite} non-finite values not drawn)` : ''}${channels > 1 ? `; ${channels} channels, the grid and range are those of the chosen channel, the histogram is of all data` : ''}.`;
    result.hidden = false;
    chart?.destroy();
    chartBox.replaceChildren();
    chartBox.setAttribute('aria-label', `Histogram of the calibration data from ${formatNumber(stored.hist.lo)} to ${formatNumber(stored.hist.hi)}; range kept [${formatNumber(lo)}, ${formatNumber(hi)}], ${formatNumber(a.clipped_fraction * 100)} % clipped.`);
    const hist: Histogram = { ...stored.hist, edges: Float64Array.from(stored.hist.edges), counts: Float64Array.from(stored.hist.counts) };
    chart = histogramChart(chartBox, hist, { range: [lo, hi], grid: gridValues(scale, zp, a.parameters.qmin, a.parameters.qmax) });
  }

  function showStored(): void {
    const raw = sessionStorage.getItem(STORE_PREFIX + instanceSelect.value);
    if (raw === null) {
      result.hidden = true;
      return;
    }
    try {
      show(JSON.parse(raw) as StoredCalibration);
    } catch {
      sessionStorage.removeItem(STORE_PREFIX + instanceSelect.value);
      result.hidden = true;
    }
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
  instanceSelect.addEventListener('change', showStored);
  channelSelect.addEventListener('change', () => current && show(current, Number(channelSelect.value)));

  void listInstances(api).then(
    (ids) => {
      instanceSelect.replaceChildren(...ids.map((id) => h('option', { value: id }, id)));
      showStored();
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
