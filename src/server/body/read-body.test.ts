import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { concatInTurns, COPY_TURN_BYTES, streamBody, TURN_BYTES } from './read-body.js';

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

describe('concatInTurns', () => {
  it('joins a large body with turns of the event loop in between, into a buffer of its own', async () => {
    // Uneven chunks, as a socket hands them over: 8 turns' worth of bytes.
    const chunks: Buffer[] = [];
    for (let n = 0, i = 0; n < COPY_TURN_BYTES * 8; i++) {
      const c = Buffer.alloc(Math.min(65536 - (i % 7) * 1000, COPY_TURN_BYTES * 8 - n), i & 255);
      chunks.push(c);
      n += c.length;
    }
    let turns = 0;
    let done = false;
    const tick = () => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const out = await concatInTurns(chunks);
    done = true;
    expect(out.equals(Buffer.concat(chunks))).toBe(true);
    // Without the turns, the copy would be one step: no tick until it is done.
    expect(turns).toBeGreaterThanOrEqual(6);
    // Not a slice of the shared pool, nor of a larger allocation: a worker may take its buffer.
    expect(out.byteOffset).toBe(0);
    expect(out.buffer.byteLength).toBe(out.length);
  });

  it('joins small bodies at once, empty ones too', async () => {
    expect((await concatInTurns([Buffer.from('ab'), Buffer.from('c')])).toString()).toBe('abc');
    expect((await concatInTurns([])).length).toBe(0);
  });
});
