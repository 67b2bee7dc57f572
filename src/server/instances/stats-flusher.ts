import type { Quantizer } from '../../engine/quantizer.js';
import type { StatsCounts, Store } from '../../node/store/store.js';
import { addStatsCounts, isEmptyStatsCounts } from '../../node/store/store.js';

/** The quantizer's statistics since the last take, as counts to add to the store's; its own restart at zero. */
export function takeStatsCounts(q: Quantizer): StatsCounts {
  const s = q.getStats();
  q.resetStats();
  return {
    clippedValues: s.clippedValues,
    totalValues: s.totalValues,
    quantizeCalls: s.quantizeCalls,
    dequantizeCalls: s.dequantizeCalls,
    processingTimeMs: s.processingTimeMs,
    requantizations: s.requantizations,
    nonFiniteValues: s.nonFiniteValues,
    lastScale: s.lastScale,
    lastZeroPoint: s.lastZeroPoint,
  };
}

interface Batch {
  counts: StatsCounts;
  done: Promise<void>;
}

/**
 * Adds statistics to the store one write at a time per instance, in order, and coalesces: counts
 * that come while a write is in flight join one batch written after it, so a burst of small
 * requests costs a few writes, not one each, and every flush resolves only once its counts (and
 * all earlier ones) are stored.
 */
export class StatsFlusher {
  /** The batch not yet started, per instance: later counts join it. */
  private readonly open = new Map<string, Batch>();
  /** The last write scheduled, per instance (settled or not): the next one starts after it. */
  private readonly tail = new Map<string, Promise<void>>();

  constructor(private readonly store: Store) {}

  /** Adds delta (nothing: undefined) and resolves once it and every earlier flush of id are stored. */
  flush(id: string, delta: StatsCounts | undefined): Promise<void> {
    const open = this.open.get(id);
    if (open !== undefined) {
      if (delta !== undefined) addStatsCounts(open.counts, delta);
      return open.done;
    }
    const prev = this.tail.get(id);
    if (delta === undefined || isEmptyStatsCounts(delta)) return prev ?? Promise.resolve();
    const batch = { counts: { ...delta } } as Batch;
    this.open.set(id, batch);
    batch.done = (prev ?? Promise.resolve()).then(() => {
      this.open.delete(id);
      return this.store.addStats(id, batch.counts);
    });
    const settled = batch.done.then(
      () => {},
      () => {},
    );
    this.tail.set(id, settled);
    void settled.then(() => {
      if (this.tail.get(id) === settled) this.tail.delete(id);
    });
    return batch.done;
  }
}
