import type uPlot from 'uplot';
import { getKernels } from '../../core/kernels/index.js';
import { getHistogramKernel } from '../../core/observers/histogram/get-histogram-kernel.js';
import { decodeNpy, encodeNpy, toFloat32 } from '../../formats/npy.js';
import { histogramChart } from '../charts.js';
import { errorText, h, showMessage } from '../dom.js';
import { formatNumber } from '../format-number.js';
import { computeHistogram } from '../histogram.js';
import { instanceCost, PRESET_DTYPES, presetCost, type PrecisionCost } from '../precision-costs.js';
import { listInstances, type View, type ViewContext } from './view.js';

/**
 * Try it: a .npy dropped or chosen here is decoded, binned and quantized in the page by quantkit's
 * core (its WebAssembly kernels) and engine: no byte of it goes to the service. Only the chosen
 * instance's config and parameters are fetched, to price "its own config".
 */
export function tryItView({ api }: ViewContext): View {
  const message = h('p', { class: 'message', hidden: true });
  const fileInput = h('input', { id: 'try-file', type: 'file', accept: '.npy,application/x-npy', class: 'drop-input' });
  const drop = h('label', { for: 'try-file', class: 'drop-zone', id: 'try-drop' }, h('strong', {}, 'Drop a .npy file here'), h('span', {}, ' or press Enter / click to choose one'));
  const instanceSelect = h('select', { id: 'try-instance' });
  const info = h('p', { id: 'try-info', class: 'hint' });
  const chartBox = h('div', { class: 'chart', role: 'img', id: 'try-chart' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'data', id: 'try-costs' },
    h('caption', {}, 'What each precision costs on this array (computed in this page)'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'precision'), h('th', { scope: 'col', class: 'num' }, 'MSE'), h('th', { scope: 'col', class: 'num' }, 'SQNR (dB)'), h('th', { scope: 'col', class: 'num' }, 'max |error|'), h('th', { scope: 'col' }, 'scale / zero point'), h('th', { scope: 'col' }, 'quantized .npy'))),
    tbody,
  );
  const result = h('section', { class: 'panel', 'aria-labelledby': 'try-result-heading', hidden: true }, h('h2', { id: 'try-result-heading' }, 'Result'), info, chartBox, h('div', { class: 'table-wrap' }, table));
  const kernelNote = h('p', { class: 'hint', id: 'try-kernels' }, `Runs in this page: quantize/dequantize kernels “${getKernels().name}”, histogram kernel “${getHistogramKernel().name}”.`);
  const element = h(
    'div',
    { class: 'view' },
    h('h1', {}, 'Try it'),
    h('p', {}, 'See what int8, uint8, int4 and an instance’s own config would cost on your array. Nothing is uploaded.'),
    kernelNote,
    message,
    h('div', { class: 'panel' }, h('div', { class: 'field' }, h('label', { for: 'try-instance' }, 'compare with the config of instance'), instanceSelect), drop, fileInput),
    result,
  );
  let chart: uPlot | null = null;
  const urls: string[] = [];
  let lastFile: { name: string; bytes: Uint8Array } | null = null;

  function downloadLink(cost: PrecisionCost, base: string): HTMLAnchorElement {
    const bytes = encodeNpy(cost.output);
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/x-npy' }));
    urls.push(url);
    const name = `${base}_${cost.label.replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`;
    return h('a', { href: url, download: name, 'aria-label': `Download ${cost.label} codes as ${name}` }, `${cost.output.dtype} .npy`);
  }

  function figure(v: number, key: string, label: string): HTMLTableCellElement {
    return h('td', { class: 'num', 'data-metric': key, 'data-value': String(v), 'data-precision': label }, formatNumber(v, 5));
  }

  async function analyse(name: string, bytes: Uint8Array): Promise<void> {
    lastFile = { name, bytes };
    for (const u of urls.splice(0)) URL.revokeObjectURL(u);
    let x: Float32Array;
    let shape: number[];
    let dtype: string;
    try {
      const arr = decodeNpy(bytes);
      x = toFloat32(arr);
      shape = arr.shape;
      dtype = arr.dtype;
    } catch (e) {
      showMessage(message, `${name}: ${errorText(e)}`, 'error');
      result.hidden = true;
      return;
    }
    showMessage(message, '', 'info');
    const hist = computeHistogram(x, 100);
    info.textContent = `${name}: ${dtype}, shape [${shape.join(', ')}], ${x.length.toLocaleString('en-US')} values in [${formatNumber(hist.lo)}, ${formatNumber(hist.hi)}]${hist.nonFinite ? `, ${hist.nonFinite} non-finite` : ''}.`;
    result.hidden = false;
    chart?.destroy();
    chartBox.replaceChildren();
    chartBox.setAttribute('aria-label', `Histogram of ${name}: values from ${formatNumber(hist.lo)} to ${formatNumber(hist.hi)}`);
    chart = histogramChart(chartBox, hist, {}, 220);
    const base = name.replace(/\.npy$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'array';
    const rows: HTMLTableRowElement[] = [];
    const row = (label: string, make: () => PrecisionCost | Promise<PrecisionCost>) => {
      const tr = h('tr', { 'data-precision': label }, h('th', { scope: 'row' }, label), h('td', { colspan: 5 }, 'computing…'));
      rows.push(tr);
      return async () => {
        try {
          const c = await make();
          const p = c.params;
          tr.replaceChildren(
            h('th', { scope: 'row' }, c.label),
            figure(c.measures.mse, 'mse', c.label),
            figure(c.measures.sqnrDb, 'sqnr_db', c.label),
            figure(c.measures.maxAbsError, 'max_abs_error', c.label),
            h('td', {}, p === null ? 'no scale (float)' : p.scale.length === 1 ? `${formatNumber(p.scale[0], 6)} / ${p.zeroPoint[0]}` : `${p.scale.length} scales`),
            h('td', {}, downloadLink(c, base)),
          );
        } catch (e) {
          tr.replaceChildren(h('th', { scope: 'row' }, label), h('td', { colspan: 5, class: 'row-error' }, errorText(e)));
        }
      };
    };
    const jobs = PRESET_DTYPES.map((d) => row(d, () => presetCost(x, shape, d)));
    const id = instanceSelect.value;
    if (id) {
      jobs.push(
        row(`instance ${id}`, async () => {
          const enc = encodeURIComponent(id);
          const [config, parameters] = await Promise.all([api.get<Record<string, unknown>>(`/instances/${enc}/config`), api.get<unknown>(`/instances/${enc}/parameters`)]);
          return instanceCost(`instance ${id} (${String(config.quantization_type)} ${String(config.quantization_mode)})`, x, shape, config, parameters);
        }),
      );
    }
    tbody.replaceChildren(...rows);
    for (const job of jobs) await job();
    table.setAttribute('data-ready', 'true');
  }

  function take(file: File | undefined): void {
    if (!file) return;
    table.removeAttribute('data-ready');
    void file.arrayBuffer().then(
      (b) => analyse(file.name, new Uint8Array(b)),
      (e: unknown) => showMessage(message, errorText(e), 'error'),
    );
  }

  fileInput.addEventListener('change', () => take(fileInput.files?.[0]));
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    take(ev.dataTransfer?.files[0]);
  });
  // The label is the visible control; Enter and Space open the file chooser as a button would.
  drop.tabIndex = 0;
  drop.setAttribute('role', 'button');
  drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      fileInput.click();
    }
  });
  instanceSelect.addEventListener('change', () => {
    if (lastFile) void analyse(lastFile.name, lastFile.bytes);
  });

  void listInstances(api).then(
    (ids) => instanceSelect.replaceChildren(...ids.map((id) => h('option', { value: id }, id))),
    (e: unknown) => showMessage(message, `Could not list the instances (the fixed precisions still work): ${errorText(e)}`, 'error'),
  );
  return {
    element,
    dispose() {
      chart?.destroy();
      for (const u of urls.splice(0)) URL.revokeObjectURL(u);
    },
  };
}
