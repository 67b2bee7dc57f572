import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore, STORE_FILE } from '../../src/node/store/sqlite-store.js';
import { CONFIG_FORMAT_VERSION } from '../../src/engine/config.js';
import { Quantizer } from '../../src/engine/quantizer.js';
import { StoreFullError } from '../../src/node/store/store-full-error.js';
import { InstanceRegistry } from '../../src/server/instances/instance-registry.js';
import { RequestError } from '../../src/server/errors/request-error.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'quantkit-store-'));
  dirs.push(d);
  return d;
}

describe('SqliteStore', () => {
  it('creates, reads, updates and deletes instances, in WAL mode', async () => {
    const dir = tmp();
    let t = 1000;
    const s = new SqliteStore(dir, { now: () => t++ });
    expect(await s.create('a', { numBits: 8 }, null)).toBe(true);
    expect(await s.create('a', { numBits: 4 }, null)).toBe(false);
    expect(await s.get('a')).toEqual({ id: 'a', config: { numBits: 8 }, parameters: null, calibration: null, createdAt: 1000, updatedAt: 1000, version: 1 });
    expect(await s.update('a', { numBits: 6 }, { p: 1 })).toBe(2);
    expect(await s.updateParameters('a', { p: 2 })).toBe(3);
    expect(await s.get('a')).toMatchObject({ config: { numBits: 6 }, parameters: { p: 2 }, updatedAt: 1003 });
    expect(await s.create('b', {}, { x: [1] })).toBe(true);
    expect(await s.list()).toEqual(['a', 'b']);
    expect(await s.delete('a')).toBe(true);
    expect(await s.delete('a')).toBe(false);
    expect(await s.update('a', {}, null)).toBeUndefined();
    expect(await s.get('a')).toBeUndefined();
    await s.close();
    const db = new Database(join(dir, STORE_FILE), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const again = new SqliteStore(dir);
    expect(await again.list()).toEqual(['b']);
    await again.close();
  });

  it('keeps a calibration report with its parameters in one write', async () => {
    let t = 5;
    const s = new SqliteStore(tmp(), { now: () => t++ });
    await s.create('c', { numBits: 8 }, null);
    expect(await s.updateCalibration('c', { numBits: 7 }, { p: 3 }, { mse: 0.5, data_histogram: { counts: [1, 2] } })).toBe(2);
    expect(await s.get('c')).toMatchObject({ config: { numBits: 7 }, parameters: { p: 3 }, calibration: { mse: 0.5, data_histogram: { counts: [1, 2] } }, updatedAt: 6 });
    // Other writes leave the report alone.
    await s.update('c', { numBits: 6 }, { p: 4 });
    expect((await s.get('c'))!.calibration).toEqual({ mse: 0.5, data_histogram: { counts: [1, 2] } });
    expect(await s.updateCalibration('missing', {}, null, {})).toBeUndefined();
    await s.close();
  });

  it('migrates a version 1 store in place: its rows load, with no calibration and version 1, and take one afterwards', async () => {
    const dir = tmp();
    const v1 = new Database(join(dir, STORE_FILE));
    v1.exec(`CREATE TABLE instances (id TEXT PRIMARY KEY NOT NULL, config TEXT NOT NULL, parameters TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT`);
    v1.prepare('INSERT INTO instances VALUES (?, ?, ?, ?, ?)').run('old', '{"numBits":8}', '{"p":1}', 10, 11);
    v1.pragma('user_version = 1');
    v1.close();
    const s = new SqliteStore(dir);
    expect(await s.get('old')).toEqual({ id: 'old', config: { numBits: 8 }, parameters: { p: 1 }, calibration: null, createdAt: 10, updatedAt: 11, version: 1 });
    expect(await s.updateCalibration('old', { numBits: 8 }, { p: 2 }, { scale: 0.1 })).toBe(2);
    await s.close();
    const db = new Database(join(dir, STORE_FILE), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    db.close();
    const again = new SqliteStore(dir);
    expect((await again.get('old'))!.calibration).toEqual({ scale: 0.1 });
    await again.close();
  });

  it('refuses a store written by a newer schema', async () => {
    const dir = tmp();
    await new SqliteStore(dir).close();
    const db = new Database(join(dir, STORE_FILE));
    db.pragma('user_version = 99');
    db.close();
    expect(() => new SqliteStore(dir)).toThrow(/schema version 99/);
  });

  it('refuses a write on a full disk with a StoreFullError, and keeps the row as it was', async () => {
    const dir = tmp();
    await new SqliteStore(dir).close();
    // Capped at the size it has: any write that needs one more page fails with SQLITE_FULL, as on a full disk.
    const s = new SqliteStore(dir, { maxPageCount: 1 });
    const big = { layers: 'x'.repeat(20000) };
    await expect(s.create('a', big, null)).rejects.toThrow(StoreFullError);
    expect(await s.list()).toEqual([]);
    await s.close();
    const t = new SqliteStore(dir);
    await t.create('a', { numBits: 8 }, null);
    await t.close();
    const u = new SqliteStore(dir, { maxPageCount: 1 });
    const e = await u.update('a', big, { p: 'y'.repeat(20000) }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(e).toBeInstanceOf(StoreFullError);
    expect(e!.message).toBe('the instance store is full (no space left on its disk): instance a was not saved and nothing changed');
    expect(await u.get('a')).toMatchObject({ config: { numBits: 8 }, parameters: null });
    await u.close();
  });
});

describe('stored configs carry their format version', () => {
  it('writes the version with the config, reads the config back without it, and reads a row without one as version 1', async () => {
    const dir = tmp();
    const s = new SqliteStore(dir);
    const config = new Quantizer({ quantizationType: 'UINT8', customQuantizationConfig: { fc1: { numBits: 4 } } }).getConfig() as unknown as Record<string, unknown>;
    await s.create('v', config, null);
    expect(JSON.parse((rawRow(dir, 'v') as { config: string }).config)).toEqual({ version: CONFIG_FORMAT_VERSION, ...JSON.parse(JSON.stringify(config)) });
    expect((await s.get('v'))!.config).toEqual(JSON.parse(JSON.stringify(config)));
    await s.update('v', { numBits: 6 }, null);
    expect(JSON.parse((rawRow(dir, 'v') as { config: string }).config)).toEqual({ version: 1, numBits: 6 });
    await s.updateCalibration('v', { numBits: 5 }, null, {});
    expect(JSON.parse((rawRow(dir, 'v') as { config: string }).config)).toEqual({ version: 1, numBits: 5 });
    await s.close();
    // A row an earlier quantkit wrote (no version) loads as version 1, into a working instance.
    const db = new Database(join(dir, STORE_FILE));
    db.prepare('INSERT INTO instances (id, config, parameters, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run('old', '{"quantizationType":"INT16"}', null, 1, 1);
    db.close();
    const again = new SqliteStore(dir);
    expect((await again.get('old'))!.config).toEqual({ quantizationType: 'INT16' });
    const r = await InstanceRegistry.open(again);
    expect(r.get('old').quantizer.getConfig().numBits).toBe(16);
    expect(r.get('v').quantizer.getConfig().numBits).toBe(5);
    await again.close();
  });

  it('refuses a config of a newer format version: the record is reported (503), kept byte for byte, and the others are served', async () => {
    const dir = tmp();
    await new SqliteStore(dir).close();
    const db = new Database(join(dir, STORE_FILE));
    const insert = db.prepare('INSERT INTO instances (id, config, parameters, created_at, updated_at) VALUES (?, ?, ?, ?, ?)');
    insert.run('future', JSON.stringify({ version: CONFIG_FORMAT_VERSION + 1, numBits: 8 }), null, 1, 1);
    insert.run('odd', '{"version": "1", "numBits": 8}', null, 2, 2);
    insert.run('now', JSON.stringify({ version: CONFIG_FORMAT_VERSION, numBits: 7 }), null, 3, 3);
    db.close();
    const before = rawRow(dir, 'future');
    const s = new SqliteStore(dir);
    await expect(s.get('future')).rejects.toThrow(`its config was written in format version ${CONFIG_FORMAT_VERSION + 1}, newer than this quantkit reads (up to ${CONFIG_FORMAT_VERSION})`);
    const warnings: string[] = [];
    const r = await InstanceRegistry.open(s, { warn: (m) => warnings.push(m) });
    expect(r.ids()).toEqual(['future', 'odd', 'now', 'default']);
    expect(r.get('now').quantizer.getConfig().numBits).toBe(7);
    const e = (() => {
      try {
        r.get('future');
      } catch (err) {
        return err as RequestError;
      }
      return undefined;
    })();
    expect(e!.statusCode).toBe(503);
    expect(e!.detail).toMatch(/^stored instance 'future' cannot be loaded: its config was written in format version 2, newer than this quantkit reads \(up to 1\); upgrade quantkit to load it\. Its record is kept unchanged/);
    expect(() => r.get('odd')).toThrow(/stored instance 'odd' cannot be loaded: its stored config has version "1"; expected a positive integer/);
    expect(warnings).toHaveLength(2);
    await r.persistAll();
    await s.close();
    expect(rawRow(dir, 'future')).toEqual(before);
  });
});

/** The row exactly as the file holds it. */
function rawRow(dir: string, id: string): unknown {
  const db = new Database(join(dir, STORE_FILE), { readonly: true });
  try {
    return db.prepare('SELECT * FROM instances WHERE id = ?').get(id);
  } finally {
    db.close();
  }
}

describe('InstanceRegistry over a store with a record it cannot load', () => {
  it('serves the others, reports the record (log and 503), keeps it untouched and its id taken', async () => {
    const dir = tmp();
    let t = 1;
    const s = new SqliteStore(dir, { now: () => t++ });
    await s.create('good', { numBits: 6 }, null);
    await s.create('broken', { quantizationType: 'INT3' }, null);
    const before = rawRow(dir, 'broken');
    const warnings: string[] = [];
    const r = await InstanceRegistry.open(s, { warn: (m) => warnings.push(m) });
    expect(r.ids()).toEqual(['good', 'broken', 'default']);
    expect(r.get('good').quantizer.getConfig().numBits).toBe(6);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^stored instance 'broken' cannot be loaded: quantizationType/);
    const e = (() => {
      try {
        r.get('broken');
      } catch (err) {
        return err as RequestError;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(RequestError);
    expect(e!.statusCode).toBe(503);
    expect(e!.detail).toMatch(/^stored instance 'broken' cannot be loaded: quantizationType.*kept unchanged in the store/);
    // Creating it again must not clobber it, and a shutdown's save leaves it alone.
    await expect(r.create('broken', {})).rejects.toThrow(/already exists \(its stored record cannot be loaded/);
    await r.persistAll();
    expect(rawRow(dir, 'broken')).toEqual(before);
    // An explicit delete is the one way to remove it.
    await r.delete('broken');
    expect(await s.get('broken')).toBeUndefined();
    expect(r.ids()).toEqual(['good', 'default']);
    await s.close();
  });

  it('starts when the default instance itself cannot be loaded (a row that does not parse), without replacing it', async () => {
    const dir = tmp();
    await new SqliteStore(dir).close();
    const db = new Database(join(dir, STORE_FILE));
    db.prepare('INSERT INTO instances (id, config, parameters, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run('default', '{"numBits": 8', null, 1, 1);
    db.prepare('INSERT INTO instances (id, config, parameters, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run('other', '{}', null, 2, 2);
    db.close();
    const before = rawRow(dir, 'default');
    const s = new SqliteStore(dir);
    const r = await InstanceRegistry.open(s);
    expect(r.ids()).toEqual(['default', 'other']);
    expect(() => r.get('default')).toThrow(/^stored instance 'default' cannot be loaded: .*JSON.*\(a quantkit that can read it serves it again\)$/);
    expect(r.get('other').quantizer.getConfig().numBits).toBe(8);
    await r.persistAll();
    await s.close();
    expect(rawRow(dir, 'default')).toEqual(before);
  });

  it('loads a record an earlier version wrote with last-used parameters its config no longer uses, dropping them with a note', async () => {
    const dir = tmp();
    const s = new SqliteStore(dir);
    // What PUT config {"quantization_type": "UINT8"} after a quantize used to leave.
    const q = new Quantizer();
    q.quantize({ data: Float32Array.from([-1, 0, 3]), shape: [3] });
    await s.create('default', { ...new Quantizer({ quantizationType: 'UINT8' }).getConfig() }, q.exportParameters());
    const warnings: string[] = [];
    const r = await InstanceRegistry.open(s, { warn: (m) => warnings.push(m) });
    expect(r.get('default').quantizer.getParameters().last).toEqual({});
    expect(warnings).toEqual(["stored instance 'default': dropped last-used parameters that no longer fit its config (the instance: int8, quantized as uint8)"]);
    await s.close();
  });
});
