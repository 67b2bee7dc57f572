// Entry point of the Offloader's worker thread: runs heavy Quantizer work on cached copies of instances.
import { parentPort } from 'node:worker_threads';
import { isQuantError } from '../../core/errors.js';
import { Quantizer } from '../../engine/quantizer.js';
import { installUninitializedOutputs } from '../../node/uninitialized-outputs.js';
import type { OffloadControl, OffloadOp, OffloadReply, OffloadRequest, OffloadValues } from './offload-protocol.js';
import { inputField, resultTransferList } from './offload-protocol.js';
import { runUpload } from './offload-upload.js';
import { parameterChanges } from './parameter-changes.js';

const port = parentPort;
if (!port) throw new Error('offload-worker must run as a worker thread');
// Outputs are transferred to the main thread whole, so they get buffers of their own anyway.
installUninitializedOutputs();

/**
 * Copies kept beyond this many go, least recently used first: the main thread's next request for
 * one finds no copy at its token and sends the whole state again (the `stale` reply).
 */
const MAX_COPIES = 256;

/** The instance copies by key, least recently used first, each with the token of the state it holds. */
const copies = new Map<number, { q: Quantizer; token: number }>();
let nextToken = 1;

class Stale extends Error {}

/** The copy the request runs on, brought up to the main thread's state; Stale when it holds no copy at `base`. */
function copyFor(req: OffloadRequest): { q: Quantizer; token: number } {
  const { key, base, state } = req.instance;
  let copy = copies.get(key);
  if (state?.kind === 'whole') {
    const q = new Quantizer(state.config);
    if (state.parameters !== null && state.parameters !== undefined) q.importParameters(state.parameters);
    copy = { q, token: 0 };
  } else {
    if (copy === undefined || copy.token !== base) throw new Stale();
    // A merge that throws changes nothing, but the copy no longer matches the main thread's state.
    if (state !== null) {
      copies.delete(key);
      copy.q.mergeParameters(state.parameters);
    }
  }
  copies.delete(key);
  copy.token = nextToken++;
  copies.set(key, copy);
  for (const k of copies.keys()) {
    if (copies.size <= MAX_COPIES) break;
    copies.delete(k);
  }
  return copy;
}

function run(q: Quantizer, req: OffloadRequest): OffloadValues[OffloadOp] {
  switch (req.op) {
    case 'calibrate': {
      const size = req.x.length / req.batches;
      const batches = Array.from({ length: req.batches }, (_, b) => ({ data: req.x.subarray(b * size, (b + 1) * size), shape: req.batchShape }));
      return q.calibrate(batches, req.options);
    }
    case 'quantize':
      return q.quantize({ data: req.x, shape: req.shape }, req.options);
    case 'quantize_dequantize':
      return q.quantizeDequantize({ data: req.x, shape: req.shape }, req.options);
    case 'dequantize':
      return q.dequantize({ data: req.codes, shape: req.shape }, req.options);
    case 'compute_params':
      return q.computeScaleAndZeroPoint({ data: req.x, shape: req.shape }, req.channelIdx, req.options);
    case 'upload':
      return runUpload(q, req);
  }
}

function answer(req: OffloadRequest): { reply: OffloadReply; transfer: ArrayBuffer[] } {
  let copy: { q: Quantizer; token: number };
  try {
    copy = copyFor(req);
  } catch (e) {
    if (e instanceof Stale) {
      const input = req[inputField(req.op) as keyof OffloadRequest] as unknown as ArrayBufferView;
      return { reply: { id: req.id, ok: false, stale: true, input }, transfer: [input.buffer as ArrayBuffer] };
    }
    return { reply: { id: req.id, ok: false, error: errorOf(e), held: null }, transfer: [] };
  }
  const { q } = copy;
  // Fresh counts, so those reported are the call's own; the main thread keeps the totals.
  q.resetStats();
  const before = q.parameterState();
  try {
    const value = run(q, req);
    const changes = parameterChanges(before, q.parameterState());
    if (changes === 'removed') throw new Error('an offloaded call removed parameters');
    return { reply: { id: req.id, ok: true, value, held: copy.token, changes, stats: q.getStats() }, transfer: resultTransferList(value) };
  } catch (e) {
    // A failed engine call changes nothing, so the copy still holds the state it was sent; should
    // a later step of an upload fail after its quantize, the copy is ahead and has to go.
    const intact = parameterChanges(before, q.parameterState()) === null;
    if (!intact) copies.delete(req.instance.key);
    return { reply: { id: req.id, ok: false, error: errorOf(e), held: intact ? copy.token : null }, transfer: [] };
  }
}

function errorOf(e: unknown): { name: string; code?: string; message: string; details?: Record<string, unknown> } {
  const err = e as Error;
  return { name: err.name, code: isQuantError(e) ? e.code : undefined, message: err.message, details: isQuantError(e) ? e.details : undefined };
}

port.on('message', (msg: OffloadRequest | OffloadControl) => {
  if (msg.op === 'drop') {
    copies.delete(msg.key);
    return;
  }
  if (msg.op === 'held') {
    port.postMessage({ id: msg.id, ok: true, keys: [...copies.keys()] } satisfies OffloadReply);
    return;
  }
  const { reply, transfer } = answer(msg);
  // Result arrays go back by transfer (the input's buffer too when a pass-through returns it).
  port.postMessage(reply, transfer);
});
