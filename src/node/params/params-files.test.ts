import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import type { QParams } from '../../core/qparams.js';
import { computeQParams } from '../../core/quantize.js';
import { encodeParamsFileFor, paramsFileFormat, readParamsFile } from './params-files.js';

const dir = mkdtempSync(join(tmpdir(), 'quantkit-params-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const x = Float32Array.from({ length: 4 * 16 }, (_, i) => Math.cos(i * 0.9) * (1 + (i % 4)));
const params: QParams = computeQParams(x, [4, 16], { dtype: 'uint4', granularity: { kind: 'per-block', axis: 1, blockSize: 8 } });

describe('readParamsFile / encodeParamsFileFor', () => {
  it('writes and reads the form the name asks for, whatever its case', () => {
    for (const name of ['p.json', 'p.safetensors', 'P.SafeTensors', 'p.params']) {
      const path = join(dir, name);
      writeFileSync(path, encodeParamsFileFor(path, params, [4, 16]));
      expect(readParamsFile(path)).toEqual({ params: { ...params, paramShape: [...params.paramShape] }, packedShape: [4, 16] });
    }
    expect(['p.json', 'p.safetensors', 'P.SafeTensors', 'p.params', 'p'].map(paramsFileFormat)).toEqual(['json', 'safetensors', 'safetensors', 'json', 'json']);
  });

  it('names the file in every error: unreadable, not JSON, binary under a JSON name, JSON under a binary name', () => {
    expectQuantError(() => readParamsFile(join(dir, 'missing.safetensors')), 'IO_ERROR', /^cannot read parameters '.*missing\.safetensors': no such file or directory$/);
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, encodeParamsFileFor('x.safetensors', params));
    expectQuantError(() => readParamsFile(notJson), 'INVALID_PARAMS', /^parameters file '.*bad\.json' is not valid JSON \(it looks like a binary params file: name it \.safetensors\): /);
    writeFileSync(notJson, '{"format": ');
    expectQuantError(() => readParamsFile(notJson), 'INVALID_PARAMS', /^parameters file '.*bad\.json' is not valid JSON: /);
    const jsonAsBinary = join(dir, 'bad.safetensors');
    writeFileSync(jsonAsBinary, encodeParamsFileFor('x.json', params));
    expectQuantError(() => readParamsFile(jsonAsBinary), 'MALFORMED_FILE', /^parameters file '.*bad\.safetensors': /);
  });
});
