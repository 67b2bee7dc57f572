import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { encodeNpyHeader } from '../../src/formats/npy.js';
import { assertBuilt, CLI, readNpy, sampleData, tempDir, writeNpy } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file streams 64 MiB files through the CLI as a child process.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const t = tempDir();
const BIG_ELEMENTS = 16 * 1024 * 1024; // 64 MiB of float32
const MIB = 1024 * 1024;
let big: string;
let tiny: string;

beforeAll(() => {
  assertBuilt();
  big = t.path('big.npy');
  const fd = openSync(big, 'w');
  writeSync(fd, encodeNpyHeader('float32', [4096, BIG_ELEMENTS / 4096]));
  const chunk = sampleData(1 << 20, 3);
  for (let i = 0; i < BIG_ELEMENTS; i += chunk.length) writeSync(fd, new Uint8Array(chunk.buffer));
  closeSync(fd);
  tiny = writeNpy(t.path('tiny.npy'), { dtype: 'float32', shape: [4, 4], data: sampleData(16) });
});
afterAll(() => t.cleanup());

/** Runs the CLI and returns its peak resident memory in bytes (Linux reports maxRSS in KiB). */
function peakRss(args: string[]): number {
  const probe = 'data:text/javascript,process.on("exit",()=>process.stderr.write("MAXRSS "+process.resourceUsage().maxRSS+"\\n"))';
  const r = spawnSync(process.execPath, ['--import', probe, CLI, ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  expect(m, r.stderr).not.toBeNull();
  return Number(m![1]) * 1024;
}

describe('streaming', () => {
  it('quantizing a 64 MiB .npy grows peak memory by far less than the file (it is never read whole)', () => {
    const base = peakRss(['quantize', tiny, '-o', t.path('tiny.q.npy'), '--dtype', 'uint8', '--workers', '1']);
    const out = t.path('big.q.npy');
    const peak = peakRss(['quantize', big, '-o', out, '--dtype', 'uint8', '--workers', '1']);
    // Reading the input whole would add 64 MiB (and the codes 16 MiB more); the chunks take 18 MiB
    // (two 8 MiB float32 buffers, one read while the other is quantized, and 2 MiB of codes).
    expect(peak - base).toBeLessThan(32 * MIB);
    const codes = readNpy(out);
    expect(codes.shape).toEqual([4096, 4096]);
    expect(codes.data.length).toBe(BIG_ELEMENTS);
  });
});
