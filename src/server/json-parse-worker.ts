// Entry point of a JsonParsePool worker: parses one segment of a large JSON array in place.
import { parentPort } from 'node:worker_threads';
import { ArrayParser } from './parse-json-body.js';
import type { SegmentReply, SegmentRequest } from './json-parse-pool.js';

const port = parentPort;
if (!port) throw new Error('json-parse-worker must run as a worker thread');

port.on('message', (m: SegmentRequest) => {
  let reply: SegmentReply;
  try {
    const p = new ArrayParser(new Uint8Array(m.body, 0, m.length), m.start, m.key);
    const r = p.parseSegment(m.first, m.stopAt, m.last);
    if (r === null) {
      reply = { id: m.id, result: null };
    } else {
      const data = r.data.slice();
      reply = { id: m.id, result: { ...r, data } };
      port.postMessage(reply, [data.buffer]);
      return;
    }
  } catch {
    reply = { id: m.id, result: null };
  }
  port.postMessage(reply);
});
