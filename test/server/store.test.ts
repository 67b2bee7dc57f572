import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore, STORE_FILE } from '../../src/node/store/sqlite-store.js';
import { InstanceRegistry } from '../../src/server/instance-registry.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'quantkit-store-'));
  dirs.push(d);
  return d;
}

describe('SqliteStore', () => {
  it('creates, reads, updates and deletes instances, in WAL mode', () => {
    const dir = tmp();
    let t = 1000;
    const s = new SqliteStore(dir, { now: () => t++ });
    expect(s.create('a', { numBits: 8 }, null)).toBe(true);
    expect(s.create('a', { numBits: 4 }, null)).toBe(false);
    expect(s.get('a')).toEqual({ id: 'a', config: { numBits: 8 }, parameters: null, createdAt: 1000, updatedAt: 1000 });
    expect(s.update('a', { numBits: 6 }, { p: 1 })).toBe(true);
    expect(s.updateParameters('a', { p: 2 })).toBe(true);
    expect(s.get('a')).toMatchObject({ config: { numBits: 6 }, parameters: { p: 2 }, updatedAt: 1003 });
    expect(s.create('b', {}, { x: [1] })).toBe(true);
    expect(s.list()).toEqual(['a', 'b']);
    expect(s.delete('a')).toBe(true);
    expect(s.delete('a')).toBe(false);
    expect(s.update('a', {}, null)).toBe(false);
    expect(s.get('a')).toBeUndefined();
    s.close();
    const db = new Database(join(dir, STORE_FILE), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const again = new SqliteStore(dir);
    expect(again.list()).toEqual(['b']);
    again.close();
  });

  it('refuses a store written by a newer schema', () => {
    const dir = tmp();
    new SqliteStore(dir).close();
    const db = new Database(join(dir, STORE_FILE));
    db.pragma('user_version = 99');
    db.close();
    expect(() => new SqliteStore(dir)).toThrow(/schema version 99/);
  });

  it('an instance that cannot be loaded stops the start with its name', () => {
    const dir = tmp();
    const s = new SqliteStore(dir);
    s.create('broken', { quantizationType: 'INT3' }, null);
    expect(() => new InstanceRegistry(s)).toThrow(/stored instance 'broken' cannot be loaded: quantizationType/);
    s.close();
  });
});
