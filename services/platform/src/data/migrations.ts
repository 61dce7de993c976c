import { setTimeout } from 'node:timers/promises';
import type { Knex } from 'knex';
import { createDatabase, type DatabaseSettings } from './database.js';

/** A migration as a plain object, so compiled services need no migration directory scanning. */
export interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/** `created_at` and `updated_at` with microseconds, set by the database (UTC, as the connection is). */
export function timestamps(db: Knex, table: Knex.CreateTableBuilder): void {
  table.specificType('created_at', 'DATETIME(6)').notNullable().defaultTo(db.raw('CURRENT_TIMESTAMP(6)'));
  table.specificType('updated_at', 'DATETIME(6)').notNullable().defaultTo(db.raw('CURRENT_TIMESTAMP(6)'));
}

/**
 * The tables the platform itself needs in every service database.
 *
 * `outbox` follows the shape Debezium's Outbox Event Router expects (id, aggregatetype, aggregateid,
 * type, payload) plus the W3C `traceparent`; `payload` holds the Confluent-framed Avro bytes, which
 * Connect passes through unchanged. `processed_events` is the idempotent consumer's message log.
 */
export const platformMigrations: Migration[] = [
  {
    name: '0000_platform_outbox',
    async up(db) {
      await db.schema.createTable('outbox', (table) => {
        table.string('id', 36).primary();
        table.string('aggregatetype', 100).notNullable();
        table.string('aggregateid', 100).notNullable();
        table.string('type', 100).notNullable();
        table.specificType('payload', 'MEDIUMBLOB').notNullable();
        table.string('traceparent', 55).nullable();
        table.specificType('created_at', 'DATETIME(6)').notNullable().defaultTo(db.raw('CURRENT_TIMESTAMP(6)'));
      });
    },
    async down(db) {
      await db.schema.dropTable('outbox');
    },
  },
  {
    name: '0001_platform_processed_events',
    async up(db) {
      await db.schema.createTable('processed_events', (table) => {
        table.string('consumer_group', 100).notNullable();
        table.string('event_id', 64).notNullable();
        table.string('event_type', 100).notNullable();
        table.specificType('processed_at', 'DATETIME(6)').notNullable().defaultTo(db.raw('CURRENT_TIMESTAMP(6)'));
        table.primary(['consumer_group', 'event_id']);
        table.index(['processed_at'], 'processed_events_processed_at');
      });
    },
    async down(db) {
      await db.schema.dropTable('processed_events');
    },
  },
];

/**
 * Runs the platform's migrations and then the service's own, in order, recording them in knex's
 * migration table. Several instances may start at once: the one that finds the lock taken waits.
 */
export async function migrate(db: Knex, serviceMigrations: Migration[] = []): Promise<void> {
  const all = [...platformMigrations, ...serviceMigrations];
  const source: Knex.MigrationSource<Migration> = {
    getMigrations: async () => all,
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => ({ up: migration.up, down: migration.down }),
  };
  // knex fails at once with MigrationLocked while another instance migrates; wait for it instead.
  for (let attempt = 1; ; attempt++) {
    try {
      // The platform's tests migrate a service database with the platform's migrations only; knex
      // would call the service's own entries in its table "missing" and refuse.
      await db.migrate.latest({ migrationSource: source, disableMigrationsListValidation: true });
      return;
    } catch (error) {
      if ((error as Error).name !== 'MigrationLocked' || attempt >= 120) throw error;
      await setTimeout(500);
    }
  }
}

/**
 * `migrate` as the login in `connection` (a service's migration account) on a knex of its own, destroyed
 * once the migrations are done or have failed: its DDL rights are never on a connection that serves.
 */
export async function migrateAs(connection: DatabaseSettings, serviceMigrations: Migration[] = []): Promise<void> {
  const db = createDatabase({ ...connection, pool: { min: 0, max: 2 } });
  try {
    await migrate(db, serviceMigrations);
  } finally {
    await db.destroy();
  }
}
