import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKlEvaluator, klDivergenceRow } from './kl-divergence.js';
import { parseMetric } from './metric-options.js';
import { t, target } from '../../../test/onnx/compare-fixtures.js';

const kl = (a: number[], b: number[], form: 'probabilities' | 'scores') => klDivergenceRow(new Float32Array(a), new Float32Array(b), 0, a.length, form);
const spec = (o: object = {}) => parseMetric({ kind: 'kl', ...o }) as Extract<ReturnType<typeof parseMetric>, { kind: 'kl' }>;

describe('klDivergenceRow', () => {
  it('matches hand-computed divergences of known distributions', () => {
    // KL((1/2, 1/2) ‖ (1/4, 3/4)) = 1/2 ln 2 + 1/2 ln(2/3)
    expect(kl([0.5, 0.5], [0.25, 0.75], 'probabilities')).toBeCloseTo(0.5 * Math.log(2) + 0.5 * Math.log(2 / 3), 12);
    // KL((1/4, 3/4) ‖ (1/2, 1/2)) = 1/4 ln(1/2) + 3/4 ln(3/2): not symmetric.
    expect(kl([0.25, 0.75], [0.5, 0.5], 'probabilities')).toBeCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 12);
    // The same distributions as logits: softmax(0, 0) = (1/2, 1/2), softmax(0, ln 3) = (1/4, 3/4).
    expect(kl([0, 0], [0, Math.log(3)], 'scores')).toBeCloseTo(0.5 * Math.log(2) + 0.5 * Math.log(2 / 3), 7);
    // Three classes, p = (0.7, 0.2, 0.1), q = (0.5, 0.3, 0.2).
    expect(kl([0.7, 0.2, 0.1], [0.5, 0.3, 0.2], 'probabilities')).toBeCloseTo(0.7 * Math.log(0.7 / 0.5) + 0.2 * Math.log(0.2 / 0.3) + 0.1 * Math.log(0.1 / 0.2), 7);
  });

  it('is 0 for identical rows, counts p = 0 terms as 0, floors q = 0 at 2^-149, and renormalizes probabilities', () => {
    expect(kl([0.1, 0.9], [0.1, 0.9], 'probabilities')).toBe(0);
    expect(kl([3, -1, 2], [3, -1, 2], 'scores')).toBe(0);
    expect(kl([0, 1], [0.5, 0.5], 'probabilities')).toBeCloseTo(Math.log(2), 12);
    expect(kl([1, 0], [0, 1], 'probabilities')).toBeCloseTo(149 * Math.LN2, 9);
    // (2, 2) is (1/2, 1/2) once normalized.
    expect(kl([2, 2], [0.25, 0.75], 'probabilities')).toBeCloseTo(kl([0.5, 0.5], [0.25, 0.75], 'probabilities'), 12);
  });

  it('is infinite for a row with NaN or an infinite score', () => {
    expect(kl([0.5, 0.5], [NaN, 0.5], 'probabilities')).toBe(Infinity);
    expect(kl([Infinity, 0], [1, 0], 'scores')).toBe(Infinity);
  });

  it('is never negative, 0 against itself, and shift-invariant on scores (seeded)', () => {
    const row = fc.array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: 2, maxLength: 12 });
    fc.assert(
      fc.property(row, fc.float({ min: -5, max: 5, noNaN: true }), (a, shift) => {
        const b = a.map((v, i) => v + Math.sin(i));
        const d = kl(a, b, 'scores');
        expect(d).toBeGreaterThanOrEqual(0);
        expect(kl(a, a, 'scores')).toBe(0);
        expect(kl(a.map((v) => v + shift), b, 'scores')).toBeCloseTo(d, 4);
      }),
      { seed: 12, numRuns: 200 },
    );
  });
});

describe('createKlEvaluator', () => {
  it('averages over rows and batches per output, reads Softmax outputs as probabilities and others as logits, and takes the largest', () => {
    const e = createKlEvaluator(spec(), target(['probs', 'logits', 'state'], ['probs']));
    const state = t('state', [1, 1, 4], [1, 2, 3, 4]);
    e.add({ probs: t('probs', [1, 2], [0.5, 0.5]), logits: t('logits', [1, 2], [0, 0]), state }, { probs: t('probs', [1, 2], [0.25, 0.75]), logits: t('logits', [1, 2], [0, 0]), state }, 0);
    e.add({ probs: t('probs', [1, 2], [0.5, 0.5]), logits: t('logits', [1, 2], [0, 0]), state }, { probs: t('probs', [1, 2], [0.5, 0.5]), logits: t('logits', [1, 2], [0, Math.log(3)]), state }, 1);
    const r = e.result([]);
    const one = 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3);
    // state [1, 1, 4] is not class scores (3-D, not out of a softmax): left out.
    expect(r.figures.map((f) => f.output)).toEqual(['probs', 'logits']);
    expect(r.figures[0]).toMatchObject({ kind: 'kl', rows: 2, scores: 'probabilities' });
    expect(r.figures[0]!.value).toBeCloseTo(one / 2, 12);
    expect(r.figures[1]).toMatchObject({ kind: 'kl', rows: 2, scores: 'scores' });
    expect(r.figures[1]!.value).toBeCloseTo(one / 2, 7);
    expect(r.value).toBe(Math.max(r.figures[0]!.value, r.figures[1]!.value));
    expect(r.metric).toBe('kl');
  });

  it('scores only the outputs asked for, and says which exist when one does not', () => {
    const e = createKlEvaluator(spec({ outputs: ['logits'] }), target(['probs', 'logits'], ['probs']));
    e.add({ probs: t('probs', [1, 2], [1, 0]), logits: t('logits', [1, 2], [0, 0]) }, { probs: t('probs', [1, 2], [0, 1]), logits: t('logits', [1, 2], [0, 0]) }, 0);
    expect(e.result([])).toMatchObject({ value: 0, figures: [{ output: 'logits' }] });
    expect(() => createKlEvaluator(spec({ outputs: ['nope'] }), target(['probs', 'logits']))).toThrow(/metric kl: the model has no output 'nope': expected one of probs, logits/);
  });

  it('fails clearly when no output holds class scores', () => {
    const e = createKlEvaluator(spec(), target(['y']));
    expect(() => e.add({ y: t('y', [2, 1, 3], [1, 2, 3, 4, 5, 6]) }, { y: t('y', [2, 1, 3], [1, 2, 3, 4, 5, 6]) }, 0)).toThrow(/metric kl needs class scores.*outputs: y \[2, 1, 3\].*--metric-output/);
  });
});
