import knex, { type Knex } from 'knex';

export interface DatabaseSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Connection pool bounds; the saga's transactions are short, so a small pool goes far. */
  pool?: { min: number; max: number };
  /**
   * innodb_lock_wait_timeout of every session (default 3 s; the server's is 50). A consumer waiting on a
   * row lock holds up the fetch of its other partitions and sends no heartbeat meanwhile: a short wait
   * turns a long-held lock into a transient error that pauses only the partition that needs the row.
   */
  lockWaitTimeoutSeconds?: number;
}

/** A knex instance on mysql2 for one service database (MySQL 8 or MariaDB). */
export function createDatabase(settings: DatabaseSettings): Knex {
  const lockWait = Math.max(1, Math.round(settings.lockWaitTimeoutSeconds ?? 3));
  return knex({
    client: 'mysql2',
    connection: {
      host: settings.host,
      port: settings.port,
      user: settings.user,
      password: settings.password,
      database: settings.database,
      charset: 'utf8mb4',
      // DATETIME values are UTC throughout; never let the driver shift them to the machine's zone.
      timezone: 'Z',
      supportBigNumbers: true,
      // inOneTrip() sends a step's statements together. Safe only because no SQL is ever built from
      // input: every value is a binding the driver escapes.
      multipleStatements: true,
    },
    pool: {
      ...(settings.pool ?? { min: 0, max: 10 }),
      // NOW() and CURRENT_TIMESTAMP follow the session's zone, which is the server's (SYSTEM) unless set:
      // on a server running in another zone, rows written with NOW() would be hours off what the driver
      // (timezone 'Z' above) reads back. Every session of every service runs in UTC.
      afterCreate(
        connection: { query(sql: string, done: (error: Error | null) => void): void },
        done: (error: Error | null, connection: unknown) => void,
      ) {
        connection.query(`SET time_zone = '+00:00', innodb_lock_wait_timeout = ${lockWait}`, (error) => done(error, connection));
      },
    },
    acquireConnectionTimeout: 10_000,
  });
}
