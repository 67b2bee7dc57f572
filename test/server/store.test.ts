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
    expect(s.get('a')).toEqual({ id: 'a', config: { numBits: 8 }, parameters: null, calibration: null, createdAt: 1000, updatedAt: 1000 });
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

  it('keeps a calibration report with its parameters in one write', () => {
    let t = 5;
    const s = new SqliteStore(tmp(), { now: () => t++ });
    s.create('c', { numBits: 8 }, null);
    expect(s.updateCalibration('c', { numBits: 7 }, { p: 3 }, { mse: 0.5, data_histogram: { counts: [1, 2] } })).toBe(true);
    expect(s.get('c')).toMatchObject({ config: { numBits: 7 }, parameters: { p: 3 }, calibration: { mse: 0.5, data_histogram: { counts: [1, 2] } }, updatedAt: 6 });
    // Other writes leave the report alone.
    s.update('c', { numBits: 6 }, { p: 4 });
    expect(s.get('c')!.calibration).toEqual({ mse: 0.5, data_histogram: { counts: [1, 2] } });
    expect(s.updateCalibration('missing', {}, null, {})).toBe(false);
    s.close();
  });

  it('migrates a version 1 store in place: its rows load, with no calibration, and take one afterwards', () => {
    const dir = tmp();
    const v1 = new Database(join(dir, STORE_FILE));
    v1.exec(`CREATE TABLE instances (id TEXT PRIMARY KEY NOT NULL, config TEXT NOT NULL, parameters TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT`);
    v1.prepare('INSERT INTO instances VALUES (?, ?, ?, ?, ?)').run('old', '{"numBits":8}', '{"p":1}', 10, 11);
    v1.pragma('user_version = 1');
    v1.close();
    const s = new SqliteStore(dir);
    expect(s.get('old')).toEqual({ id: 'old', config: { numBits: 8 }, parameters: { p: 1 }, calibration: null, createdAt: 10, updatedAt: 11 });
    expect(s.updateCalibration('old', { numBits: 8 }, { p: 2 }, { scale: 0.1 })).toBe(true);
    s.close();
    const db = new Database(join(dir, STORE_FILE), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    db.close();
    const again = new SqliteStore(dir);
    expect(again.get('old')!.calibration).toEqual({ scale: 0.1 });
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
