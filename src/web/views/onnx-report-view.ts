import type uPlot from 'uplot';
import { barChart } from '../charts.js';
import { errorText, h, showMessage } from '../dom.js';
import { formatNumber } from '../format-number.js';
import { readOnnxReport, sortRows, type MetricInfo, type OnnxReport } from '../onnx-report.js';
import type { View } from './view.js';

/** ONNX reports: a `quantkit onnx compare --json` or `sensitivity --json` file as a sorted bar chart, a table and the chosen precisions. */
export function onnxReportView(): View {
  const message = h('p', { class: 'message', hidden: true });
  const fileInput = h('input', { id: 'onnx-file', type: 'file', accept: '.json,application/json', 'aria-describedby': 'onnx-file-hint' });
  const metricSelect = h('select', { id: 'onnx-metric' });
  const summary = h('p', { id: 'onnx-summary' });
  const precisions = h('ul', { id: 'onnx-precisions', class: 'chips' });
  const chartBox = h('div', { class: 'chart', role: 'img', id: 'onnx-chart' });
  const chartLegend = h('ul', { class: 'chart-legend' });
  const tbody = h('tbody');
  const thead = h('thead');
  const table = h('table', { class: 'data', id: 'onnx-table' }, h('caption', {}, 'Per-layer errors, worst first'), thead, tbody);
  const result = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'onnx-result-heading', hidden: true },
    h('h2', { id: 'onnx-result-heading' }, 'Report'),
    summary,
    h('div', { class: 'field' }, h('label', { for: 'onnx-metric' }, 'sort and draw by'), metricSelect),
    precisions,
    chartBox,
    chartLegend,
    h('div', { class: 'table-wrap' }, table),
  );
  const element = h(
    'div',
    { class: 'view' },
    h('h1', {}, 'ONNX reports'),
    message,
    h('div', { class: 'panel' }, h('div', { class: 'field' }, h('label', { for: 'onnx-file' }, 'report (.json)'), fileInput, h('small', { id: 'onnx-file-hint', class: 'hint' }, 'the output of quantkit onnx compare --json or quantkit onnx sensitivity --json'))),
    result,
  );
  let chart: uPlot | null = null;
  let report: OnnxReport | null = null;

  function draw(metric: MetricInfo): void {
    if (!report) return;
    const r0 = report;
    const rows = sortRows(r0.rows, metric);
    const withMetric = rows.filter((r) => r.metrics[metric.key] !== undefined);
    chart?.destroy();
    chartBox.replaceChildren();
    chartBox.setAttribute('aria-label', `Bar chart of ${metric.label} for ${withMetric.length} ${r0.source}, worst first; the table below lists the same figures.`);
    const drawn = barChart(chartBox, withMetric.map((r) => ({ label: r.name, value: r.metrics[metric.key], group: r.precision })), metric.label);
    chart = drawn.chart;
    chartLegend.replaceChildren(...[...drawn.colors].map(([p, c]) => h('li', {}, h('span', { class: 'swatch', style: `background:${c}` }), `chosen: ${p}`)));
    const hasNotes = rows.some((r) => r.note !== null);
    const hasPrecision = rows.some((r) => r.precision !== null);
    thead.replaceChildren(
      h(
        'tr',
        {},
        h('th', { scope: 'col', class: 'num' }, '#'),
        h('th', { scope: 'col' }, 'name'),
        h('th', { scope: 'col' }, 'op'),
        hasPrecision && h('th', { scope: 'col' }, 'chosen precision'),
        ...r0.metrics.map((m) => h('th', { scope: 'col', class: 'num' }, m.label)),
        hasNotes && h('th', { scope: 'col' }, 'note'),
      ),
    );
    tbody.replaceChildren(
      ...rows.map((r, i) =>
        h(
          'tr',
          { 'data-layer': r.name },
          h('td', { class: 'num' }, String(i + 1)),
          h('th', { scope: 'row' }, r.name),
          h('td', {}, r.opType ?? '—'),
          hasPrecision && h('td', {}, r.precision ?? '—'),
          ...r0.metrics.map((m) => h('td', { class: 'num', 'data-metric': m.key, 'data-value': r.metrics[m.key] === undefined ? null : String(r.metrics[m.key]) }, formatNumber(r.metrics[m.key], 6))),
          hasNotes && h('td', { class: 'note' }, r.note ?? ''),
        ),
      ),
    );
  }

  function open(name: string, text: string): void {
    try {
      report = readOnnxReport(text);
    } catch (e) {
      showMessage(message, `${name}: ${errorText(e)}`, 'error');
      result.hidden = true;
      return;
    }
    showMessage(message, '', 'info');
    metricSelect.replaceChildren(...report.metrics.map((m) => h('option', { value: m.key }, m.label)));
    const counts = Object.entries(report.counts);
    precisions.replaceChildren(...counts.map(([p, n]) => h('li', {}, `${p}: ${n} layer${n === 1 ? '' : 's'}`)));
    precisions.hidden = counts.length === 0;
    const kinds = { compare: 'compare', sensitivity: 'sensitivity', 'auto-precision': 'automatic precision', report: '' } as const;
    summary.textContent = `${name}: ${kinds[report.kind] ? `${/^[aeiou]/.test(kinds[report.kind]) ? 'an' : 'a'} ${kinds[report.kind]} report` : 'a report'}, ${report.rows.length} ${report.source}${report.overall !== null ? `, overall error ${formatNumber(report.overall)}` : ''}.`;
    result.hidden = false;
    draw(report.metrics[0]);
  }

  fileInput.addEventListener('change', () => {
    const f = fileInput.files?.[0];
    if (!f) return;
    void f.text().then(
      (t) => open(f.name, t),
      (e: unknown) => showMessage(message, errorText(e), 'error'),
    );
  });
  metricSelect.addEventListener('change', () => {
    const m = report?.metrics.find((x) => x.key === metricSelect.value);
    if (m) draw(m);
  });
  return {
    element,
    dispose() {
      chart?.destroy();
    },
  };
}
