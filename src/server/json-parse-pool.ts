import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { NdArray } from './nd-array.js';
import type { ArrayAnswer, ArrayRequest } from './parse-json-body.js';
import { ArrayParser, rowCutPoints } from './parse-json-body.js';

/** Bodies from this size up are parsed in the workers (below it, posting costs more than it saves). */
export const PARALLEL_JSON_MIN_BYTES = 4 << 20;

const WORKER_URL = new URL('./json-parse-worker.js', import.meta.url);

export interface SegmentRequest {
  id: number;
  body: SharedArrayBuffer;
  length: number;
  start: number;
  first: boolean;
  stopAt: number;
  last: boolean;
  key: string;
}

export interface SegmentResult {
  data: Float32Array;
  rows: number;
  rowShape: number[];
  integral: boolean;
  end: number;
}

export interface SegmentReply {
  id: number;
  result: SegmentResult | null;
}

/**
 * Parses the number arrays of large JSON bodies in worker threads, rows split evenly between
 * them: both cores work on a 2048x2048 body at once and the event loop stays free (GET / answers
 * while a large body is parsed). The body must sit in a SharedArrayBuffer, so nothing is copied
 * to the workers. Whatever the split cannot handle (not rank 2, a malformed array) is parsed on
 * this thread in one go, which also reports any error exactly as the sequential parser does.
 */
export class JsonParsePool {
  readonly available: boolean;
  private workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: SegmentResult | null) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private next = 0;

  constructor(readonly threads = Math.min(2, Math.max(1, availableParallelism()))) {
    this.available = threads > 1 && existsSync(fileURLToPath(WORKER_URL));
  }

  private worker(): Worker {
    if (this.workers.length < this.threads) {
      const w = new Worker(WORKER_URL);
      w.on('message', (r: SegmentReply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        p.resolve(r.result);
        if (this.pending.size === 0) for (const x of this.workers) x.unref();
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
        this.workers = this.workers.filter((x) => x !== w);
      });
      w.unref();
      this.workers.push(w);
      return w;
    }
    return this.workers[this.next++ % this.workers.length];
  }

  private segment(req: Omit<SegmentRequest, 'id'>): Promise<SegmentResult | null> {
    const id = this.nextId++;
    const w = this.worker();
    w.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id });
    });
  }

  /** Parses the array at req.pos of `buf` (a view of a SharedArrayBuffer from offset 0). */
  async parseArray(buf: Uint8Array, req: ArrayRequest): Promise<ArrayAnswer> {
    const cuts = rowCutPoints(buf, req.pos, this.threads);
    if (cuts.length > 0 && buf.buffer instanceof SharedArrayBuffer && buf.byteOffset === 0) {
      const starts = [req.pos, ...cuts];
      const parts = await Promise.all(
        starts.map((start, i) =>
          this.segment({
            body: buf.buffer as SharedArrayBuffer,
            length: buf.length,
            start,
            first: i === 0,
            stopAt: i + 1 < starts.length ? starts[i + 1] : buf.length,
            last: i === starts.length - 1,
            key: req.key,
          }),
        ),
      );
      const merged = merge(parts);
      if (merged) return merged;
    }
    const p = new ArrayParser(buf, req.pos, req.key);
    const value = p.parse();
    return { value, end: p.pos };
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/** The segments as one array, or null when they do not fit together (ragged between segments). */
function merge(parts: (SegmentResult | null)[]): ArrayAnswer | null {
  if (parts.some((p) => p === null)) return null;
  const segs = parts as SegmentResult[];
  const rowShape = segs[0].rowShape;
  if (segs.some((s) => s.rowShape.length !== rowShape.length || s.rowShape.some((d, k) => d !== rowShape[k]))) return null;
  let total = 0;
  let rows = 0;
  for (const s of segs) {
    total += s.data.length;
    rows += s.rows;
  }
  const data = new Float32Array(total);
  let o = 0;
  for (const s of segs) {
    data.set(s.data, o);
    o += s.data.length;
  }
  return { value: new NdArray(data, [rows, ...rowShape], segs.every((s) => s.integral)), end: segs[segs.length - 1].end };
}
