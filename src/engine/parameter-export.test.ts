import { afterEach, describe, expect, test } from 'vitest';
import { parseQuantizerConfig } from './config.js';
import { configFromSnakeCase, configToSnakeCase } from '../contract/config-names.js';
import { decodeQuantizerParameters } from './parameter-export.js';
import { Quantizer } from './quantizer.js';

// Layer names an ordinary object resolves through its prototype ("__proto__" even sets it).
const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'] as const;
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

afterEach(() => {
  // A failure must not leak into the next test through a polluted Object.prototype.
  for (const k of Object.getOwnPropertyNames(Object.prototype)) if (!PROTOTYPE_KEYS.includes(k)) delete (Object.prototype as Record<string, unknown>)[k];
});

function expectCleanPrototype(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_KEYS);
  expect(({} as Record<string, unknown>).calibrated).toBeUndefined();
  expect(({} as Record<string, unknown>).last).toBeUndefined();
}

/** JSON text, as a client or a file spells it: an object literal cannot have an own "__proto__" key. */
function layerMap(value: unknown): Record<string, unknown> {
  return JSON.parse(`{${NAMES.map((n) => `${JSON.stringify(n)}: ${JSON.stringify(value)}`).join(', ')}}`) as Record<string, unknown>;
}

const BATCH = [[-1.5, 0.25, 2, 7.5]];
const DATA = [[-1, 0.5, 3, 6.25]];

describe('layers named like Object.prototype members', () => {
  test('are calibrated, quantized, exported and imported as layers, and the prototype stays clean', () => {
    const config = { quantizationMode: 'CALIBRATED', customQuantizationConfig: layerMap({ quantizationType: 'UINT8', numBits: 5 }) };
    const q = new Quantizer(config);
    expect(Object.keys(q.getConfig().customQuantizationConfig).sort()).toEqual([...NAMES].sort());
    const codes = new Map<string, number[]>();
    for (const name of NAMES) {
      q.calibrate(BATCH, { layerName: name });
      const r = q.quantize(DATA, { layerName: name });
      // The override applies to the layer, not the instance's INT8.
      expect(r.dtype, name).toBe('uint5');
      expect(r.layer.source).toBe('custom');
      codes.set(name, Array.from(r.codes));
    }
    expectCleanPrototype();

    // Through JSON text, as the service stores and serves it.
    const text = JSON.stringify(q.exportParameters());
    const exported = JSON.parse(text) as { layers: Record<string, { calibrated?: unknown; last?: unknown }> };
    expect(Object.keys(exported.layers).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) {
      expect(exported.layers[name].calibrated, name).toBeDefined();
      expect(exported.layers[name].last, name).toBeDefined();
    }
    const decoded = decodeQuantizerParameters(exported);
    expect([...decoded.calibrated.keys()].sort()).toEqual([...NAMES].sort());

    const copy = new Quantizer(JSON.parse(JSON.stringify(q.getConfig())));
    copy.importParameters(exported);
    for (const name of NAMES) expect(Array.from(copy.quantize(DATA, { layerName: name }).codes), name).toEqual(codes.get(name));
    expect(JSON.stringify(copy.exportParameters())).toBe(text);
    expectCleanPrototype();
  });

  test('the encoded layers record is a plain key map: no layer is inherited', () => {
    const q = new Quantizer();
    q.quantize(DATA, { layerName: 'fc1' });
    const layers = q.exportParameters().layers;
    for (const name of NAMES) expect(layers[name], name).toBeUndefined();
  });
});

describe('custom_quantization_config keys', () => {
  test('"__proto__" and other prototype names round-trip snake_case -> config -> snake_case', () => {
    const snake = JSON.parse(`{"custom_quantization_config": ${JSON.stringify(layerMap({ quantization_type: 'INT16', per_channel: true }))}}`) as Record<string, unknown>;
    const config = parseQuantizerConfig(configFromSnakeCase(snake));
    const custom = config.customQuantizationConfig;
    expect(Object.keys(custom).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) expect(custom[name], name).toEqual({ quantizationType: 'INT16', perChannel: true });
    const back = configToSnakeCase(config as unknown as Record<string, unknown>);
    expect(JSON.parse(JSON.stringify(back.custom_quantization_config))).toEqual(snake.custom_quantization_config);
    // And the stored JSON loads back to the same config.
    expect(parseQuantizerConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
    expect(Object.keys(parseQuantizerConfig(JSON.parse(JSON.stringify(config))).customQuantizationConfig).sort()).toEqual([...NAMES].sort());
    expectCleanPrototype();
  });

  test('a layer without an entry does not pick up an inherited one', () => {
    const q = new Quantizer({ customQuantizationConfig: { fc1: { quantizationType: 'INT16' } } });
    for (const name of NAMES) expect(q.quantize(DATA, { layerName: name }).dtype, name).toBe('int8');
  });

  test('a top-level "__proto__" field is an unknown field, not a prototype', () => {
    expect(() => parseQuantizerConfig(configFromSnakeCase(JSON.parse('{"__proto__": {"custom_quantization_config": {"x": {"num_bits": 4}}}}') as Record<string, unknown>))).toThrow(
      /unknown field "__proto__"/,
    );
    expectCleanPrototype();
  });
});
