import type { ModelProto, NodeProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { makeValueInfo } from '../../formats/onnx/builders.js';
import { encodeModel } from '../../formats/onnx/model.js';
import { inlineIfs } from '../graph/inline-if.js';
import type { RunModel, TensorMap } from '../run-model.js';

/** The branches a set of calibration batches takes. */
export interface BranchChoice {
  /** Indices (in calibration order) of the batches that take these branches; undefined: every batch. */
  readonly batches: readonly number[] | undefined;
  /** If node of the model → true (then branch) or false (else branch). Ifs not listed stay Ifs. */
  readonly choices: ReadonlyMap<NodeProto, boolean>;
}

/** Only the batches listed (all when undefined), in calibration order. */
export async function* pickBatches(data: () => AsyncIterable<TensorMap> | Iterable<TensorMap>, batches: readonly number[] | undefined): AsyncIterable<TensorMap> {
  const want = batches && new Set(batches);
  let i = 0;
  for await (const b of data()) {
    if (!want || want.has(i)) yield b;
    i++;
  }
}

/**
 * Which branch of each If the calibration batches take, found by running the model: the
 * conditions of the main graph's Ifs become extra outputs, the batches are grouped by the
 * branches they take, and each group's Ifs are inlined (inlineIfs) so the Ifs nested in the taken
 * branches reach the main graph and are decided on the next run, until no If is left in the main
 * graph. One BranchChoice per group of batches taking the same branches everywhere (usually one:
 * the condition hangs on an input such as a sample rate, or on a shape, the same for every batch).
 * Ifs inside Loop or Scan bodies are never decided (their conditions change per iteration).
 */
export async function planBranches(model: ModelProto, runModel: RunModel, data: () => AsyncIterable<TensorMap> | Iterable<TensorMap>): Promise<BranchChoice[]> {
  const done: BranchChoice[] = [];
  const work: BranchChoice[] = [{ batches: undefined, choices: new Map() }];
  while (work.length) {
    const plan = work.pop()!;
    const inlined = inlineIfs(model, (n) => plan.choices.get(n));
    const sourceOf = new Map([...inlined.nodes].map(([s, c]) => [c, s]));
    const open = inlined.model.graph!.node.filter((n) => n.opType === 'If' && n.domain === '' && sourceOf.has(n) && n.input[0]);
    if (!open.length) {
      done.push(plan);
      continue;
    }
    const conditions = [...new Set(open.map((n) => n.input[0]!))];
    const g = inlined.model.graph!;
    const outputs = new Set(g.output.map((v) => v.name));
    for (const c of conditions) if (!outputs.has(c)) g.output.push(makeValueInfo(c, 'bool'));
    const groups = new Map<string, { batches: number[]; taken: boolean[] }>();
    const indices = plan.batches ?? [];
    await runModel(
      encodeModel(inlined.model),
      pickBatches(data, plan.batches),
      (out, k) => {
        const taken = conditions.map((c) => {
          const t = out[c];
          if (!t || t.values.length !== 1) throw new QuantError('INVALID_ARGUMENT', `the condition '${c}' of an If is not one value in calibration batch ${k}`);
          return Number(t.values[0]) !== 0;
        });
        const key = taken.map((b) => (b ? 1 : 0)).join('');
        let group = groups.get(key);
        if (!group) groups.set(key, (group = { batches: [], taken }));
        group.batches.push(plan.batches ? indices[k]! : k);
      },
      conditions,
    );
    if (!groups.size) throw new QuantError('EMPTY_INPUT', 'calibration got no batches: expected at least one set of model inputs');
    for (const group of groups.values()) {
      const choices = new Map(plan.choices);
      for (const n of open) choices.set(sourceOf.get(n)!, group.taken[conditions.indexOf(n.input[0]!)]!);
      work.push({ batches: groups.size === 1 ? plan.batches : group.batches, choices });
    }
  }
  // Calibration order: the group holding the first batch first.
  return done.sort((a, b) => (a.batches?.[0] ?? 0) - (b.batches?.[0] ?? 0));
}
