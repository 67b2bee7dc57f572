import { QuantError } from '../../core/errors.js';
import type { TensorData, TensorValues } from '../../formats/onnx/tensor.js';

/** Agreement of the predicted classes of a classifier-like output, over its rows. */
export interface ClassifierAgreement {
  /** Size of the last dimension. */
  readonly classes: number;
  /** Rows compared: the product of all dimensions but the last, over every batch. */
  readonly rows: number;
  /** Fraction of rows where argmax(reference) = argmax(candidate) (ties: the first index). */
  readonly top1Agreement: number;
  /** Fraction of rows where argmax(reference) is among the candidate's 5 largest; null when classes ≤ 5 (always 1). */
  readonly top5Agreement: number | null;
  /** The reference's most frequent top class (ties: the lower index): a CTC blank, a background class. */
  readonly majorityClass: number;
  /** Fraction of rows whose reference top class is majorityClass. */
  readonly majorityShare: number;
  /** Rows whose reference top class is not majorityClass. */
  readonly nonMajorityRows: number;
  /**
   * top1Agreement over those rows alone, so rows of the majority class (blank steps, background)
   * cannot carry it: a candidate that answers the majority class everywhere scores 0 here. Null
   * when every row is of the majority class.
   */
  readonly nonMajorityTop1Agreement: number | null;
}

/**
 * Error figures of one output, reference a against candidate b, over every element of every batch,
 * accumulated in float64:
 * - maxAbsError = max |a − b|, meanAbsError = Σ|a − b| / n
 * - relativeRmsError = √(Σ(a − b)² / Σa²): 0 for identical outputs, Infinity when a is all zero and b is not
 * - cosine = Σab / √(Σa² · Σb²): 1 when both are all zero, 0 when only one is
 * - sqnrDb = 10 · log10(Σa² / Σ(a − b)²): Infinity for identical outputs
 * Elements where both are NaN, or both the same infinity, count as equal and are left out of the
 * sums; where only one is NaN they are counted in nanMismatches and left out of the sums (and make
 * the comparison error Infinity).
 */
export interface OutputMetrics {
  readonly name: string;
  /** Dimensions of the first batch's output. */
  readonly dims: readonly number[];
  readonly elements: number;
  readonly maxAbsError: number;
  readonly meanAbsError: number;
  readonly rmsError: number;
  readonly relativeRmsError: number;
  readonly cosine: number;
  readonly sqnrDb: number;
  readonly nanMismatches: number;
  /** Present for classifier-like outputs (see isClassifierLike). */
  readonly classifier: ClassifierAgreement | null;
}

/**
 * An output is treated as class scores when its last dimension C ≥ 2 and it is either 2-D
 * [N, C], or 3-D [N, T, C] and produced by Softmax/LogSoftmax (a sequence of per-step class
 * scores, as a CTC text recognizer gives). Higher ranks are spatial maps (segmentation, detection
 * heat maps) and rank-3 tensors not out of a softmax are states or features, so neither gets
 * top-k figures.
 */
export function isClassifierLike(dims: readonly number[], fromSoftmax: boolean): boolean {
  const c = dims[dims.length - 1] ?? 0;
  if (c < 2) return false;
  return dims.length === 2 || (dims.length === 3 && fromSoftmax);
}

function valueAt(v: TensorValues, i: number): number {
  return Number(v[i]!);
}

/** Streams batches of one output into OutputMetrics; add() each (reference, candidate) pair, then result(). */
export class OutputMetricsAccumulator {
  private dims: number[] | undefined;
  private n = 0;
  private maxAbs = 0;
  private sumAbs = 0;
  private sumSqErr = 0;
  private sumA2 = 0;
  private sumB2 = 0;
  private sumAB = 0;
  private nanMismatches = 0;
  private rows = 0;
  private top1 = 0;
  private top5 = 0;
  private classes = 0;
  /** Per reference top class: rows, and rows where the candidate agreed. */
  private byClass = new Map<number, { rows: number; agreed: number }>();

  /** `classifier`: whether to compute top-k agreement (decide with isClassifierLike). */
  constructor(
    readonly name: string,
    private readonly classifier: boolean,
  ) {}

  add(reference: TensorData, candidate: TensorData): void {
    const same = reference.dims.length === candidate.dims.length && reference.dims.every((d, i) => d === candidate.dims[i]);
    if (!same) {
      throw new QuantError('SHAPE_MISMATCH', `output '${this.name}': expected the candidate's shape to equal the reference's [${reference.dims.join(', ')}], got [${candidate.dims.join(', ')}]`);
    }
    this.dims ??= [...reference.dims];
    const a = reference.values;
    const b = candidate.values;
    for (let i = 0; i < a.length; i++) {
      const x = valueAt(a, i);
      const y = valueAt(b, i);
      if (Number.isNaN(x) || Number.isNaN(y)) {
        if (Number.isNaN(x) !== Number.isNaN(y)) this.nanMismatches++;
        continue;
      }
      // The same infinity on both sides is agreement; Inf − Inf would put NaN into every sum.
      if (x === y && !Number.isFinite(x)) continue;
      const d = x - y;
      const ad = Math.abs(d);
      if (ad > this.maxAbs) this.maxAbs = ad;
      this.sumAbs += ad;
      this.sumSqErr += d * d;
      this.sumA2 += x * x;
      this.sumB2 += y * y;
      this.sumAB += x * y;
      this.n++;
    }
    if (this.classifier) this.addRows(a, b, reference.dims[reference.dims.length - 1] ?? 1);
  }

  private addRows(a: TensorValues, b: TensorValues, c: number): void {
    this.classes = c;
    const rows = a.length / c;
    for (let r = 0; r < rows; r++) {
      const base = r * c;
      let best = 0;
      for (let j = 1; j < c; j++) if (valueAt(a, base + j) > valueAt(a, base + best)) best = j;
      const target = valueAt(b, base + best);
      // Rank of the reference's class among the candidate's scores: how many score strictly higher, or equal at a lower index.
      let rank = 0;
      for (let j = 0; j < c; j++) {
        const v = valueAt(b, base + j);
        if (v > target || (v === target && j < best)) rank++;
      }
      if (rank === 0) this.top1++;
      if (rank < 5) this.top5++;
      const k = this.byClass.get(best) ?? { rows: 0, agreed: 0 };
      k.rows++;
      if (rank === 0) k.agreed++;
      this.byClass.set(best, k);
    }
    this.rows += rows;
  }

  result(): OutputMetrics {
    const identical = this.sumSqErr === 0;
    const relativeRmsError = identical ? 0 : this.sumA2 === 0 ? Infinity : Math.sqrt(this.sumSqErr / this.sumA2);
    const cosine = this.sumA2 === 0 && this.sumB2 === 0 ? 1 : this.sumA2 === 0 || this.sumB2 === 0 ? 0 : this.sumAB / Math.sqrt(this.sumA2 * this.sumB2);
    return {
      name: this.name,
      dims: this.dims ?? [],
      elements: this.n,
      maxAbsError: this.maxAbs,
      meanAbsError: this.n ? this.sumAbs / this.n : 0,
      rmsError: this.n ? Math.sqrt(this.sumSqErr / this.n) : 0,
      relativeRmsError,
      cosine: Math.min(1, Math.max(-1, cosine)),
      sqnrDb: identical ? Infinity : 10 * Math.log10(this.sumA2 / this.sumSqErr),
      nanMismatches: this.nanMismatches,
      classifier: this.classifier && this.rows > 0 ? this.agreement() : null,
    };
  }

  private agreement(): ClassifierAgreement {
    let majority = -1;
    let most = { rows: 0, agreed: 0 };
    for (const [k, v] of this.byClass) if (v.rows > most.rows || (v.rows === most.rows && k < majority)) [majority, most] = [k, v];
    const nonMajorityRows = this.rows - most.rows;
    return {
      classes: this.classes,
      rows: this.rows,
      top1Agreement: this.top1 / this.rows,
      top5Agreement: this.classes > 5 ? this.top5 / this.rows : null,
      majorityClass: majority,
      majorityShare: most.rows / this.rows,
      nonMajorityRows,
      nonMajorityTop1Agreement: nonMajorityRows > 0 ? (this.top1 - most.agreed) / nonMajorityRows : null,
    };
  }
}

/**
 * The rel-rms metric's number (sensitivity ranks by the chosen metric, --max-error bounds it): the
 * largest relative RMS error over the outputs, max_o √(Σ(a − b)² / Σa²) — scale free, so outputs
 * of different magnitudes weigh alike, and 0.01 reads as "1% of the signal's RMS". Infinity when
 * an output has NaN mismatches.
 */
export function comparisonError(outputs: readonly OutputMetrics[]): number {
  let e = 0;
  for (const o of outputs) e = Math.max(e, o.nanMismatches > 0 ? Infinity : o.relativeRmsError);
  return e;
}
