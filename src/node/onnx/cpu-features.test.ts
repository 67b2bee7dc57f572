import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasVnni } from '../../onnx/target.js';
import { readCpuFeatures } from './cpu-features.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cpuinfo(text: string): string {
  const d = mkdtempSync(join(tmpdir(), 'qk-cpuinfo-'));
  dirs.push(d);
  writeFileSync(join(d, 'cpuinfo'), text);
  return join(d, 'cpuinfo');
}

describe('readCpuFeatures', () => {
  it('reads the first processor’s flags; VNNI is avx512_vnni or avx_vnni', () => {
    const noVnni = readCpuFeatures(cpuinfo('processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse4_1 avx2 avx512bw\n\nprocessor\t: 1\nflags\t\t: avx512_vnni\n'));
    expect(noVnni.flags?.has('avx2')).toBe(true);
    expect(noVnni.flags?.has('avx512_vnni')).toBe(false);
    const withVnni = readCpuFeatures(cpuinfo('flags\t\t: fpu avx2 AVX_VNNI\n'));
    expect(withVnni.flags?.has('avx_vnni')).toBe(true);
    if (withVnni.arch === 'x64') {
      expect(hasVnni(noVnni)).toBe(false);
      expect(hasVnni(withVnni)).toBe(true);
    }
  });

  it('an unreadable cpuinfo leaves the flags unknown instead of failing', () => {
    const cpu = readCpuFeatures(join(tmpdir(), 'qk-no-such-dir', 'cpuinfo'));
    expect(cpu.flags).toBeUndefined();
    expect(hasVnni(cpu)).toBeUndefined();
  });
});
