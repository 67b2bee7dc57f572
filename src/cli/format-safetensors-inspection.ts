import type { SafetensorsTensorInspection } from '../node/safetensors/inspect-safetensors-file.js';
import { SAFETENSORS_INSPECT_SCHEMES } from '../node/safetensors/inspect-safetensors-file.js';
import { db, num, textTable } from './format-figures.js';

/** The human report of `quantkit inspect model.safetensors`: one row per tensor. */
export function formatSafetensorsInspection(file: string, tensors: readonly SafetensorsTensorInspection[]): string {
  const header = ['tensor', 'dtype', 'shape', 'min', 'max', ...SAFETENSORS_INSPECT_SCHEMES.map((s) => `SQNR ${s.label} (dB)`)];
  const rows = tensors.map((t) => [
    t.name,
    t.dtype,
    `[${t.shape.join(', ')}]`,
    t.min === undefined ? '' : num(t.min),
    t.max === undefined ? '' : num(t.max),
    ...SAFETENSORS_INSPECT_SCHEMES.map((_, k) => (t.sqnrDb ? db(t.sqnrDb[k]!) : k === 0 && t.role ? roleText(t.role, t.of!) : '')),
  ]);
  const floats = tensors.filter((t) => t.sqnrDb).length;
  return `${[`file      ${file}`, `tensors   ${tensors.length} (${floats} float, non-empty)`, '', ...textTable(header, rows)].join('\n')}\n`;
}

/** What a quantized file's own tensors are, in place of an SQNR. */
function roleText(role: NonNullable<SafetensorsTensorInspection['role']>, of: string): string {
  return role === 'codes' ? `(codes of ${of})` : `(${role === 'scale' ? 'scale' : 'zero point'} of ${of})`;
}

/** The machine report (`inspect --json`); SQNR is keyed by scheme and null when infinite. */
export function safetensorsInspectionJson(file: string, tensors: readonly SafetensorsTensorInspection[]): Record<string, unknown> {
  return {
    file,
    tensors: tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      size: t.size,
      ...(t.role ? { role: t.role, of: t.of } : {}),
      ...(t.role === 'scale' && t.min !== undefined ? { min: t.min, max: t.max } : {}),
      ...(t.sqnrDb ? { min: t.min, max: t.max, sqnr_db: Object.fromEntries(SAFETENSORS_INSPECT_SCHEMES.map((s, k) => [s.label, t.sqnrDb![k]])) } : {}),
    })),
  };
}
