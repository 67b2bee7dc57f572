import { describe, expect, it } from 'vitest';
import { QuantError } from '../core/errors.js';
import { asCliJson, AUTO_PRECISION_REPORT, COMPARE_REPORT, SENSITIVITY_REPORT } from '../../test/web/report-fixtures.js';
import { readOnnxReport, sortRows } from './onnx-report.js';

describe('readOnnxReport', () => {
  it('reads a compare report: layers with their figures, null SQNR as Infinity, worst first by relative RMS', () => {
    const r = readOnnxReport(asCliJson(COMPARE_REPORT));
    expect(r.kind).toBe('compare');
    expect(r.source).toBe('layers');
    expect(r.overall).toBe(0.0123);
    expect(r.metrics.map((m) => m.key)).toEqual(['relativeRmsError', 'maxAbsError', 'sqnrDb', 'cosine']);
    const fc2 = r.rows.find((x) => x.name === 'fc2')!;
    expect(fc2.metrics.sqnrDb).toBe(Infinity);
    expect(fc2.opType).toBe('MatMul');
    expect(sortRows(r.rows, r.metrics[0]).map((x) => x.name)).toEqual(['conv2', 'conv1', 'fc1', 'fc2']);
    // SQNR: lower is worse, identical (Infinity) last.
    expect(sortRows(r.rows, r.metrics.find((m) => m.key === 'sqnrDb')!).map((x) => x.name)).toEqual(['conv2', 'conv1', 'fc1', 'fc2']);
  });

  it('names the metric a sensitivity or auto report measured its errors by', () => {
    const ctc = readOnnxReport(asCliJson({ ...SENSITIVITY_REPORT, metric: 'ctc' }));
    expect(ctc.metrics.find((m) => m.key === 'error@int8')!.label).toBe('int8 alone: error (ctc)');
    expect(readOnnxReport(asCliJson(SENSITIVITY_REPORT)).metrics.find((m) => m.key === 'error@int8')!.label).toBe('int8 alone: error (max relative RMS)');
    const auto = readOnnxReport(asCliJson({ auto: { ...AUTO_PRECISION_REPORT, metric: './mine.mjs' } }));
    expect(auto.metrics.find((m) => m.key === 'error@int4')!.label).toBe('int4 alone: error (./mine.mjs)');
  });

  it('falls back to per-output rows when a compare had no layers', () => {
    const r = readOnnxReport(asCliJson({ ...COMPARE_REPORT, layers: [] }));
    expect(r.source).toBe('outputs');
    expect(r.rows.map((x) => x.name)).toEqual(['logits']);
    expect(r.rows[0].metrics.meanAbsError).toBe(0.008);
  });

  it('reads a sensitivity report: one error per precision, not-applicable ones as notes, the first precision drawn first', () => {
    const r = readOnnxReport(asCliJson(SENSITIVITY_REPORT));
    expect(r.kind).toBe('sensitivity');
    expect(r.metrics.map((m) => m.key)).toEqual(['error@int8', 'error@int4', 'cosine@int8', 'cosine@int4']);
    const conv1 = r.rows.find((x) => x.name === 'conv1')!;
    expect(conv1.metrics).toEqual({ 'error@int8': 0.02, 'cosine@int8': 0.9998 });
    expect(conv1.note).toMatch(/int4: not applicable \(int4 needs a MatMul or Gemm weight\)/);
    expect(sortRows(r.rows, r.metrics[1]).map((x) => x.name)).toEqual(['fc1', 'conv1']);
  });

  it('reads an automatic-precision report: the chosen precision per layer and the counts', () => {
    const r = readOnnxReport(asCliJson(AUTO_PRECISION_REPORT));
    expect(r.kind).toBe('auto-precision');
    expect(r.rows.map((x) => [x.name, x.precision])).toEqual([['fc1', 'int4'], ['fc2', 'int8'], ['conv1', 'float']]);
    expect(r.counts).toEqual({ int4: 1, int8: 1, float: 1 });
    expect(r.rows[2].metrics['error@int8']).toBe(0.02);
    expect(r.rows[0].note).toBe('smallest error per byte saved');
    expect(r.overall).toBe(0.0081);
  });

  it('accepts snake_case names and a report wrapped in another object', () => {
    const r = readOnnxReport(JSON.stringify({ result: { layers: [{ layer_name: 'a', relative_rms_error: 0.5, max_abs_error: 1 }, { layer_name: 'b', relative_rms_error: 0.7 }] } }));
    expect(r.rows.map((x) => x.name)).toEqual(['a', 'b']);
    expect(r.rows[0].metrics).toEqual({ relativeRmsError: 0.5, maxAbsError: 1 });
  });

  it('refuses text that is not JSON, or JSON without per-layer figures, with MALFORMED_FILE naming what it saw', () => {
    expect(() => readOnnxReport('{"layers": [')).toThrow(QuantError);
    expect(() => readOnnxReport('{"layers": [')).toThrow(/does not parse as JSON/);
    expect(() => readOnnxReport('{"model": "x.onnx", "layers": [{"node": "a"}]}')).toThrow(/per-layer figures.*top-level keys: model, layers/);
    try {
      readOnnxReport('[]');
    } catch (e) {
      expect((e as QuantError).code).toBe('MALFORMED_FILE');
    }
  });
});
