/**
 * The PostgreSQL store's schema, as numbered steps applied in order (SQLite's store does the same
 * with PRAGMA user_version): step n brings a database at version n-1 to n. A released step is never
 * edited; a change of schema is a new step. quantkit_schema holds the version reached.
 */
export const POSTGRES_MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE instances (
        id text PRIMARY KEY,
        config text NOT NULL,
        parameters text,
        calibration text,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        version integer NOT NULL DEFAULT 1
      );
      -- Counters every replica adds to in one statement; their row goes with the instance.
      CREATE TABLE instance_stats (
        id text PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
        clipped_values bigint NOT NULL DEFAULT 0,
        total_values bigint NOT NULL DEFAULT 0,
        quantize_calls bigint NOT NULL DEFAULT 0,
        dequantize_calls bigint NOT NULL DEFAULT 0,
        processing_time_ms double precision NOT NULL DEFAULT 0,
        requantizations bigint NOT NULL DEFAULT 0,
        non_finite_values bigint NOT NULL DEFAULT 0,
        last_scale double precision NOT NULL DEFAULT 'NaN',
        last_zero_point double precision NOT NULL DEFAULT 'NaN'
      );
      -- Every change of a record is announced to every replica's LISTEN, after its commit, by the
      -- database itself: no writer can forget to, whatever client made the change. The schema is
      -- named so that services sharing a database in schemas of their own hear only theirs.
      CREATE FUNCTION quantkit_notify_instance() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          PERFORM pg_notify('quantkit_instances', json_build_object('schema', TG_TABLE_SCHEMA, 'id', OLD.id, 'version', NULL)::text);
        ELSE
          PERFORM pg_notify('quantkit_instances', json_build_object('schema', TG_TABLE_SCHEMA, 'id', NEW.id, 'version', NEW.version)::text);
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER instances_notify AFTER INSERT OR UPDATE OR DELETE ON instances
        FOR EACH ROW EXECUTE FUNCTION quantkit_notify_instance();
    `,
  },
];

/** The schema version this build writes. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1].version;

/** The channel the trigger notifies on. */
export const INSTANCES_CHANNEL = 'quantkit_instances';
