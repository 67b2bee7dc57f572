import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AtomicFile, checkOutputTarget, OutputSet } from './atomic-file.js';

// Special files are made in a temp dir; the real /dev/null is only ever a symlink's target here.
const dir = mkdtempSync(join(tmpdir(), 'quantkit-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fifo(name: string): string {
  const p = join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
}

describe('AtomicFile refuses targets that are not regular files', () => {
  it('a FIFO, a symlink to a character device and a directory, before any temp file exists', () => {
    const f = fifo('a.fifo');
    const link = join(dir, 'null-link');
    symlinkSync('/dev/null', link);
    const before = readdirSync(dir).sort();
    expect(() => new AtomicFile(f)).toThrow(/refusing to write '.*a\.fifo': it is a named pipe \(FIFO\), not a regular file/);
    expect(() => new AtomicFile(link)).toThrow(/it is a character device/);
    expect(() => new AtomicFile(dir)).toThrow(/it is a directory/);
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(lstatSync(f).isFIFO()).toBe(true);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('a name that became a FIFO while the output was written: commit refuses and leaves no temp file', () => {
    const p = join(dir, 'late.bin');
    const set = new OutputSet();
    set.create(p).write(new Uint8Array([1, 2, 3]));
    execFileSync('mkfifo', [p]);
    expect(() => set.commit()).toThrow(/named pipe/);
    expect(lstatSync(p).isFIFO()).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    unlinkSync(p);
  });

  it('a regular file, a symlink to one and a missing name are fine', () => {
    const p = join(dir, 'plain.bin');
    writeFileSync(p, 'old');
    checkOutputTarget(p);
    checkOutputTarget(join(dir, 'missing.bin'));
    const f = new AtomicFile(p);
    f.write(new TextEncoder().encode('new'));
    f.commit();
    expect(readFileSync(p, 'utf8')).toBe('new');
  });
});
