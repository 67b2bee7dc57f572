import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresUrl, schemaFor, testDatabase } from '../../../test/setup/test-database.js';
import { PostgresStore } from './postgres-store.js';
import { POSTGRES_SCHEMA_VERSION } from './postgres-migrations.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store, StoreChange } from './store.js';
import { emptyStatsCounts } from './store.js';
import { VersionConflictError } from './version-conflict-error.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'quantkit-contract-'));
  dirs.push(d);
  return d;
}

/** Each kind opens a store by a key: the same key, the same records. */
const KINDS: { name: string; present: () => boolean; open: (key: string, now?: () => number) => Promise<Store> }[] = [
  { name: 'SqliteStore', present: () => true, open: async (key, now) => new SqliteStore(key, { now }) },
  {
    name: 'PostgresStore',
    present: () => postgresUrl() !== '',
    open: async (key, now) => PostgresStore.open(await testDatabase(), { schema: schemaFor(key), now, poolSize: 4 }),
  },
];

function counts(over: Partial<ReturnType<typeof emptyStatsCounts>>) {
  return { ...emptyStatsCounts(), ...over };
}

for (const kind of KINDS) {
  describe.skipIf(!kind.present())(`Store contract: ${kind.name}`, () => {
    it('creates, reads, updates and deletes records, each write bumping the version', async () => {
      let t = 1000;
      const key = tmp();
      const s = await kind.open(key, () => t++);
      expect(await s.create('a', { numBits: 8 }, null)).toBe(true);
      expect(await s.create('a', { numBits: 4 }, null)).toBe(false);
      expect(await s.get('a')).toEqual({ id: 'a', config: { numBits: 8 }, parameters: null, calibration: null, createdAt: 1000, updatedAt: 1000, version: 1 });
      expect(await s.update('a', { numBits: 6 }, { p: 1 })).toBe(2);
      expect(await s.updateParameters('a', { p: 2 })).toBe(3);
      expect(await s.updateCalibration('a', { numBits: 5 }, { p: 3 }, { mse: 0.5 })).toBe(4);
      expect(await s.get('a')).toMatchObject({ config: { numBits: 5 }, parameters: { p: 3 }, calibration: { mse: 0.5 }, version: 4 });
      expect(await s.create('b', {}, { x: [1] })).toBe(true);
      expect(await s.list()).toEqual(['a', 'b']);
      expect(await s.delete('a')).toBe(true);
      expect(await s.delete('a')).toBe(false);
      expect(await s.update('a', {}, null)).toBeUndefined();
      expect(await s.updateParameters('a', null, 1)).toBeUndefined();
      expect(await s.get('a')).toBeUndefined();
      await s.close();
      await s.close();
      const again = await kind.open(key);
      expect(await again.list()).toEqual(['b']);
      expect(await again.get('b')).toMatchObject({ parameters: { x: [1] }, version: 1 });
      await again.close();
    });

    it('writes conditionally: a change based on an old version is refused and changes nothing', async () => {
      const s = await kind.open(tmp());
      await s.create('c', { numBits: 8 }, null);
      expect(await s.update('c', { numBits: 7 }, { p: 1 }, 1)).toBe(2);
      const stale = s.update('c', { numBits: 6 }, { p: 2 }, 1);
      await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
      await expect(s.updateCalibration('c', { numBits: 6 }, null, {}, 1)).rejects.toThrow('instance c was changed by another request since version 1; nothing was written');
      await expect(s.updateParameters('c', null, 3)).rejects.toBeInstanceOf(VersionConflictError);
      expect(await s.get('c')).toMatchObject({ config: { numBits: 7 }, parameters: { p: 1 }, calibration: null, version: 2 });
      expect(await s.updateParameters('c', { p: 9 }, 2)).toBe(3);
      await s.close();
    });

    it('adds statistics atomically, keeps the last scale a delta set, resets them, and drops them with the record', async () => {
      const s = await kind.open(tmp());
      await s.create('d', {}, null);
      expect(await s.getStats('d')).toEqual(emptyStatsCounts());
      await Promise.all(Array.from({ length: 20 }, (_, i) => s.addStats('d', counts({ quantizeCalls: 1, totalValues: 6, clippedValues: i % 2, processingTimeMs: 0.5 }))));
      await s.addStats('d', counts({ quantizeCalls: 1, lastScale: 0.25, lastZeroPoint: -3 }));
      await s.addStats('d', counts({ dequantizeCalls: 2, requantizations: 1, nonFiniteValues: 4 }));
      expect(await s.getStats('d')).toEqual({
        clippedValues: 10,
        totalValues: 120,
        quantizeCalls: 21,
        dequantizeCalls: 2,
        processingTimeMs: 10,
        requantizations: 1,
        nonFiniteValues: 4,
        lastScale: 0.25,
        lastZeroPoint: -3,
      });
      await s.resetStats('d');
      expect(await s.getStats('d')).toEqual(emptyStatsCounts());
      await s.addStats('d', counts({ quantizeCalls: 1 }));
      await s.delete('d');
      await s.create('d', {}, null);
      expect((await s.getStats('d')).quantizeCalls).toBe(0);
      // Counts for a record deleted meanwhile vanish with it; they are no error.
      await s.addStats('gone', counts({ quantizeCalls: 1 }));
      await s.close();
    });

    it('is ready while open, and says so', async () => {
      const s = await kind.open(tmp());
      expect(await s.health()).toMatchObject({ ready: true });
      await s.close();
      expect(await s.health()).toMatchObject({ ready: false });
    });
  });
}

describe.skipIf(postgresUrl() === '')('PostgresStore shared by several services', () => {
  it('tells every watcher of creations, changes and deletions, its own and others', async () => {
    const key = tmp();
    const a = (await PostgresStore.open(await testDatabase(), { schema: schemaFor(key) })) as PostgresStore;
    const b = (await PostgresStore.open(await testDatabase(), { schema: schemaFor(key) })) as PostgresStore;
    // Another schema of the same database: its changes are not this service's.
    const other = await PostgresStore.open(await testDatabase(), { schema: schemaFor(tmp()) });
    const seen: StoreChange[] = [];
    let resolveAll!: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    const stop = await b.watch({
      change: (c) => {
        seen.push(c);
        if (seen.length === 3) resolveAll();
      },
      resync: () => {},
    });
    await other.create('x', {}, null);
    await a.create('x', {}, null);
    await a.update('x', { numBits: 4 }, null, 1);
    await a.delete('x');
    await all;
    expect(seen).toEqual([
      { id: 'x', version: 1 },
      { id: 'x', version: 2 },
      { id: 'x', version: null },
    ]);
    await stop();
    await Promise.all([a.close(), b.close(), other.close()]);
  });

  it('asks the watcher to resync after its connection is cut, and hears changes again', async () => {
    const key = tmp();
    const url = await testDatabase();
    const s = await PostgresStore.open(url, { schema: schemaFor(key) });
    let resynced!: () => void;
    const resync = new Promise<void>((r) => (resynced = r));
    const changes: StoreChange[] = [];
    let changed!: () => void;
    const change = new Promise<void>((r) => (changed = r));
    await s.watch({
      change: (c) => {
        changes.push(c);
        changed();
      },
      resync: () => resynced(),
    });
    const admin = new pg.Client(url);
    await admin.connect();
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
    await resync;
    await s.create('after', {}, null);
    await change;
    expect(changes).toEqual([{ id: 'after', version: 1 }]);
    await admin.end();
    await s.close();
  });

  it('refuses at start a schema newer than this build, an unknown database and a refused login, each in one line', async () => {
    const key = tmp();
    const url = await testDatabase();
    const s = await PostgresStore.open(url, { schema: schemaFor(key) });
    await s.close();
    const admin = new pg.Client(url);
    await admin.connect();
    await admin.query(`UPDATE ${schemaFor(key)}.quantkit_schema SET version = ${POSTGRES_SCHEMA_VERSION + 1}`);
    await admin.end();
    await expect(PostgresStore.open(url, { schema: schemaFor(key) })).rejects.toThrow(
      new RegExp(`has schema version ${POSTGRES_SCHEMA_VERSION + 1}, newer than this quantkit knows \\(up to ${POSTGRES_SCHEMA_VERSION}\\)`),
    );
    const missing = new URL(url);
    missing.pathname = '/no_such_database';
    await expect(PostgresStore.open(missing.toString())).rejects.toThrow(/database "no_such_database" does not exist; create it first/);
    const unreachable = new URL(url);
    unreachable.port = '1';
    await expect(PostgresStore.open(unreachable.toString())).rejects.toThrow(/^cannot reach PostgreSQL at quantkit@127\.0\.0\.1:1\/.* \(ECONNREFUSED\)/);
    // Password authentication: the test cluster trusts loopback, so a role whose login is refused stands in.
    const noLogin = new URL(url);
    noLogin.username = 'nobody_here';
    const e = await PostgresStore.open(noLogin.toString()).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(e?.message).toMatch(/^PostgreSQL refused the login to nobody_here@127\.0\.0\.1:\d+\/\w+: authentication failed \(role "nobody_here" does not exist\)/);
    expect(e?.message).not.toContain('\n');
  });
});
