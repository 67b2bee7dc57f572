import { basename } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

/** Which store the service tests run against: QUANTKIT_TEST_STORE=postgres (the vitest project "postgres") or SQLite. */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.QUANTKIT_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** The run's cluster URL, or '' when PostgreSQL is not installed here. */
export function postgresUrl(): string {
  return inject('postgresUrl');
}

let fileDatabase: Promise<string> | undefined;

/**
 * This test file's own database in the run's cluster (created at first use; a module, hence a
 * file, has one), its URL. Services inside it each take a schema of their own (schemaFor).
 */
export function testDatabase(): Promise<string> {
  return (fileDatabase ??= (async () => {
    const base = postgresUrl();
    if (base === '') throw new Error('PostgreSQL is not installed here (see .ci/run)');
    const name = `qk_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = new pg.Client(base);
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const u = new URL(base);
    u.pathname = `/${name}`;
    return u.toString();
  })());
}

/** The schema of the service whose SQLite store would be `dir`: the same dir finds the same records, as its file would. */
export function schemaFor(dir: string): string {
  return `s_${basename(dir).toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}
