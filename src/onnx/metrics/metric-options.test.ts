import { describe, expect, it } from 'vitest';
import { metricName, parseMetric } from './metric-options.js';

describe('parseMetric', () => {
  it('takes a name alone or an object, rel-rms by default, ctc’s blank 0 by default', () => {
    expect(parseMetric(undefined)).toEqual({ kind: 'rel-rms' });
    expect(parseMetric('kl')).toEqual({ kind: 'kl' });
    expect(parseMetric('ctc')).toEqual({ kind: 'ctc', blank: 0 });
    expect(parseMetric({ kind: 'ctc', blank: 5, outputs: ['p'] })).toEqual({ kind: 'ctc', blank: 5, outputs: ['p'] });
    const acc = parseMetric({ kind: 'accuracy', labels: [1, 0, 2] });
    expect(acc).toEqual({ kind: 'accuracy', labels: new Int32Array([1, 0, 2]) });
    const f = () => 0;
    expect(metricName(parseMetric({ kind: 'custom', name: 'mine', evaluate: f }))).toBe('mine');
  });

  it('rejects unknown kinds listing the known ones, and bad options naming the field', () => {
    expect(() => parseMetric('cer' as never)).toThrow('unknown metric "cer": expected one of rel-rms, kl, ctc, accuracy, custom');
    expect(() => parseMetric({ kind: 'ctc', blank: -1 })).toThrow(/metric ctc: blank: blank must be a class index >= 0/);
    expect(() => parseMetric({ kind: 'ctc', blank: 1.5 })).toThrow(/metric ctc: blank: /);
    expect(() => parseMetric({ kind: 'accuracy', labels: [1, -2] })).toThrow(/metric accuracy: labels: labels must be an array of class indices/);
    expect(() => parseMetric({ kind: 'accuracy', labels: [] })).toThrow(/labels must hold at least one class index/);
    expect(() => parseMetric({ kind: 'accuracy' } as never)).toThrow(/metric accuracy: labels/);
    expect(() => parseMetric({ kind: 'kl', blank: 0 } as never)).toThrow(/metric kl: /);
    expect(() => parseMetric({ kind: 'kl', outputs: [] })).toThrow(/metric kl: outputs: expected at least one output name/);
    expect(() => parseMetric({ kind: 'custom', name: 'x', evaluate: 3 } as never)).toThrow(/a custom metric needs evaluate/);
  });
});
