// Every registered observer is reachable by name from each place that takes one: the engine
// config, the CLI (--observer of quantize and calibrate, and of onnx quantize) and ONNX static
// calibration. Adding an observer is one registry entry; this suite then covers it (an observer
// that needs options gets them in OPTIONS).
import { create } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { DATA_OBSERVER_NAMES, OBSERVER_NAMES, OBSERVERS } from '../src/core/observers/builtin-observers.js';
import { createRng } from '../src/core/random.js';
import { Quantizer } from '../src/engine/quantizer.js';
import { calibrate } from '../src/onnx/calibration/calibrate.js';
import type { RunModel } from '../src/onnx/run-model.js';
import { parseQuantizeOptions } from '../src/onnx/quantize-options.js';
import { parseObserverOptions } from '../src/cli/quant-options.js';
import { loadAllCommands } from '../src/cli/commands/index.js';
import { buildProgram } from '../src/cli/run-cli.js';
import { UsageError } from '../src/cli/exit-codes.js';

/** Options for observers that cannot choose a range from the data alone. */
const OPTIONS: Record<string, Record<string, unknown>> = { fixed: { min: -1, max: 1 } };

const rng = createRng(7);
const data = Float32Array.from({ length: 512 }, () => 4 * rng() - 2);
const shape = [8, 64];

const io = { stdout: { write: () => true }, stderr: process.stderr, env: {} };
const program = buildProgram(io, await loadAllCommands());
const sub = (c: Command, name: string) => c.commands.find((x) => x.name() === name)!;
const observerFlag = (c: Command) => c.options.find((o) => o.long === '--observer')!;

/** A runner that hands back the batch's own tensors as the model's outputs. */
const echo: RunModel = async (_model, batches, onOutputs) => {
  let i = 0;
  for await (const b of batches) await onOutputs(b, i++);
};

it('the registry names each observer once, and what needs options is the exception', () => {
  expect(new Set(OBSERVER_NAMES).size).toBe(OBSERVER_NAMES.length);
  expect(OBSERVER_NAMES.filter((n) => !DATA_OBSERVER_NAMES.includes(n))).toEqual(Object.keys(OPTIONS));
});

describe.each(OBSERVER_NAMES)('the %s observer', (name) => {
  it('is chosen by the engine config, and calibrates', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', observer: { name, options: OPTIONS[name] ?? {} } });
    expect(q.calibrate({ data, shape }).method).toBe(name);
  });
});

describe.each(DATA_OBSERVER_NAMES)('the %s observer, which needs no options', (name) => {
  it('is offered by the CLI --observer of quantize, calibrate and onnx quantize', () => {
    expect(parseObserverOptions({ observer: name }).choice.name).toBe(name);
    for (const c of [sub(program, 'quantize'), sub(program, 'calibrate')]) expect(observerFlag(c).description).toContain(name);
    expect(observerFlag(sub(sub(program, 'onnx'), 'quantize')).argChoices).toContain(name);
  });

  it('is offered by ONNX static calibration, and observes by that name', async () => {
    expect(parseQuantizeOptions({ mode: 'static', observer: name }).observer).toBe(name);
    const model = create(ModelProtoSchema, { graph: { name: 'g' } });
    const batches = [{ t: { name: 't', dtype: 'float32' as const, dims: [512], values: data } }];
    const r = await calibrate(model, ['t'], { runModel: echo, batches, observer: name });
    expect(r.observers.get('t')!.name).toBe(name);
  });
});

describe.each(Object.keys(OPTIONS))('the %s observer, which needs options', (name) => {
  it('is refused where no options can be given, naming what is offered', () => {
    expect(OBSERVERS.get(name).requires).toBeDefined();
    expect(() => parseObserverOptions({ observer: name })).toThrow(UsageError);
    expect(() => parseObserverOptions({ observer: name })).toThrow(`expected one of ${DATA_OBSERVER_NAMES.join(', ')}`);
    expect(() => parseQuantizeOptions({ mode: 'static', observer: name })).toThrow(/observer: expected observer/);
  });
});
