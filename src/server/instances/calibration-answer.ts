import type { CalibrationReport } from '../../engine/quantizer.js';
import { encodeParamsFile } from '../../formats/params-file.js';
import { jsonSafe } from '../body/json-safe.js';

export const CALIBRATION_FORMAT = 'quantkit.calibration';
export const CALIBRATION_VERSION = 1;

/**
 * The calibrate route's answer, also what the service keeps as an instance's last calibration and
 * answers on GET /instances/{id}/calibration: the contract's message, scale and zero_point, then the
 * engine's report in snake_case (range chosen and observed, MSE, SQNR, clipped fraction, the
 * histograms of the error and of the data, the parameters) and when it was made. NaN and Infinity
 * (an exact SQNR, no finite data) become null.
 */
export function calibrationAnswer(report: CalibrationReport, calibratedAt: Date): Record<string, unknown> {
  const d = report.dataHistogram;
  return jsonSafe({
    message: 'Calibration successful',
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    calibrated_at: calibratedAt.toISOString(),
    layer_name: report.layerName,
    scale: report.scale,
    zero_point: report.zeroPoint,
    scales: report.scales,
    zero_points: report.zeroPoints,
    min: report.min,
    max: report.max,
    observed_min: report.observedMin,
    observed_max: report.observedMax,
    method: report.method,
    dtype: report.dtype,
    symmetric: report.symmetric,
    axis: report.axis,
    batches: report.batches,
    count: report.count,
    clipped_fraction: report.clippedFraction,
    mse: report.mse,
    sqnr_db: report.sqnrDb,
    histogram: report.histogram,
    data_histogram: { of: d.of, edges: d.edges, counts: d.counts, non_finite: d.nonFinite },
    parameters: encodeParamsFile(report.params),
  }) as Record<string, unknown>;
}
