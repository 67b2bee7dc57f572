import type { Quantizer } from '../../engine/quantizer.js';
import type { InstanceSnapshot } from '../offload/offload-protocol.js';

/**
 * What the offload worker rebuilds an instance from: its config and exported parameters. Take it
 * inside the instance's queue, so it is current, and apply the worker's effects
 * (Quantizer.applyCopyEffects) before the queue moves on, so the instance ends as inline.
 */
export function snapshotOf(q: Quantizer): InstanceSnapshot {
  return { config: q.getConfig(), parameters: q.exportParameters() };
}
