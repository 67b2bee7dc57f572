import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { streamBody, TURN_BYTES } from './read-body.js';

describe('streamBody', () => {
  it('gives the event loop turns between chunks that arrived together, and hands over every byte in order', async () => {
    // Sixteen turns' worth of bytes, all buffered before the first is read.
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(TURN_BYTES / 4, i));
    const body = Readable.from(chunks, { objectMode: false });
    const received: Buffer[] = [];
    let turns = 0;
    let turnsBeforeLastChunk = 0;
    let done = false;
    // Counts the turns the loop gets (setImmediate callbacks that run) while the body is handed over.
    const tick = () => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const n = await streamBody(body, 1 << 30, TURN_BYTES * 16, (chunk) => {
      received.push(Buffer.from(chunk));
      turnsBeforeLastChunk = turns;
    });
    done = true;
    expect(n).toBe(TURN_BYTES * 16);
    expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
    // About one turn per TURN_BYTES (the stream may merge chunks); without them, none until the end.
    expect(turnsBeforeLastChunk).toBeGreaterThanOrEqual(8);
  });
});
