import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Component } from '../component.js';
import { portOpen } from '../component.js';
import { accountPassword, settings } from '../settings.js';

const run = promisify(execFile);
const dataDir = join(settings.dataDir, 'mariadb');
const socket = join(settings.runDir, 'mariadb.sock');

function findBinary(names: string[]): string {
  for (const name of names) {
    for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
      const path = join(dir, name);
      if (existsSync(path)) return path;
    }
  }
  throw new Error(
    `none of ${names.join(', ')} found: install the MariaDB server from the OS packages ` +
      '(apt-get install mariadb-server); the stack runs its own instance and leaves the system one alone',
  );
}

/**
 * Runs SQL as the instance's root through its own unix socket (root uses socket authentication). Fault
 * tests use it too, for what only an administrator can do (make the server read-only, as in a failover).
 */
export async function rootSql(sql: string): Promise<string> {
  const client = findBinary(['mariadb', 'mysql']);
  // On stdin, not `-e`: the provisioning's statements hold passwords, and a command line is visible to
  // every user of the machine.
  const running = run(client, ['--no-defaults', `--socket=${socket}`, '-uroot', '-N', '-B']);
  running.child.stdin?.end(sql);
  const { stdout } = await running;
  return stdout;
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Every privilege MariaDB (10.5 and later) grants on a database: what a grant there is checked against. */
const databasePrivileges = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'REFERENCES',
  'INDEX',
  'ALTER',
  'CREATE TEMPORARY TABLES',
  'LOCK TABLES',
  'EXECUTE',
  'CREATE VIEW',
  'SHOW VIEW',
  'CREATE ROUTINE',
  'ALTER ROUTINE',
  'EVENT',
  'TRIGGER',
  'DELETE HISTORY',
  'GRANT OPTION',
];

/** What a service serves with: rows only. */
const runtimePrivileges = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];
/**
 * What a service migrates with: knex's migration tables are rows too (knex_migrations, and the lock row it
 * updates under SELECT … FOR UPDATE); the migrations create, alter and drop tables, indexes, CHECK
 * constraints and foreign keys (REFERENCES).
 */
const migrationPrivileges = [...runtimePrivileges, 'CREATE', 'ALTER', 'DROP', 'INDEX', 'REFERENCES'];

/**
 * `account` on each of the stack's hosts, with `password`. Created if missing, its password set anew either
 * way (a secret file deleted and made again takes effect on the next start); `options` are ALTER USER's.
 */
function accountSql(user: string, password: string, options = ''): string[] {
  const auth = `IDENTIFIED BY ${quote(password)}${options ? ` ${options}` : ''}`;
  return settings.credentials.hosts.flatMap((host) => [
    `CREATE USER IF NOT EXISTS ${quote(user)}@${quote(host)} ${auth}`,
    `ALTER USER ${quote(user)}@${quote(host)} ${auth}`,
  ]);
}

/**
 * Exactly `privileges` on `database` for `user` on each host: granted first, then every other privilege on
 * that database revoked, so a grant made by hand or by an older version goes away without a moment in which
 * a running service lacks one it needs.
 */
function databaseGrantSql(user: string, database: string, privileges: string[]): string[] {
  const others = databasePrivileges.filter((privilege) => !privileges.includes(privilege));
  return settings.credentials.hosts.flatMap((host) => [
    `GRANT ${privileges.join(', ')} ON \`${database}\`.* TO ${quote(user)}@${quote(host)}`,
    `REVOKE ${others.join(', ')} ON \`${database}\`.* FROM ${quote(user)}@${quote(host)}`,
  ]);
}

/**
 * The databases and every account of the stack: per service a runtime and a migration account, then
 * Debezium's, the exporter's and the auditor's, each with its own generated password (secrets.ts) and
 * only on the stack's local hosts. Idempotent: it runs on every start, so a changed grant reaches an
 * existing data directory too, and the '%' accounts an older version made (ALL PRIVILEGES on a service's
 * database, committed passwords) are dropped, with whatever they were granted.
 */
export function provisioningSql(): string {
  const { credentials, databases } = settings;
  const statements: string[] = [];
  for (const { name, runtime, migration } of databases) {
    statements.push(
      `CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      ...accountSql(runtime.user, accountPassword(runtime)),
      ...databaseGrantSql(runtime.user, name, runtimePrivileges),
      ...accountSql(migration.user, accountPassword(migration)),
      ...databaseGrantSql(migration.user, name, migrationPrivileges),
    );
  }
  // Exactly what Debezium documents for its MariaDB connector: SELECT (here narrowed to the captured
  // databases), RELOAD and SHOW DATABASES for the schema snapshot, REPLICATION SLAVE to read the binlog,
  // BINLOG MONITOR (MariaDB's name for MySQL's REPLICATION CLIENT) for SHOW MASTER STATUS / BINARY LOGS.
  const { debezium, exporter, auditor } = credentials;
  statements.push(...accountSql(debezium.user, accountPassword(debezium)));
  for (const host of credentials.hosts) {
    statements.push(`GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ${quote(debezium.user)}@${quote(host)}`);
  }
  for (const { name } of databases) statements.push(...databaseGrantSql(debezium.user, name, ['SELECT']));
  // The MySQL exporter (mysqld-exporter.ts): PROCESS for the thread list and InnoDB's information_schema
  // tables, BINLOG MONITOR (REPLICATION CLIENT) for the binlog sizes, SELECT on performance_schema for its
  // optional collectors; no SELECT on any service's data. Three connections at most, as its docs advise.
  statements.push(...accountSql(exporter.user, accountPassword(exporter), 'WITH MAX_USER_CONNECTIONS 3'));
  for (const host of credentials.hosts) {
    statements.push(
      `GRANT PROCESS, BINLOG MONITOR ON *.* TO ${quote(exporter.user)}@${quote(host)}`,
      `GRANT SELECT ON performance_schema.* TO ${quote(exporter.user)}@${quote(host)}`,
    );
  }
  // The audit tools (npm run audit, and the tests' audits) read all three databases, and write nothing.
  statements.push(...accountSql(auditor.user, accountPassword(auditor)));
  for (const { name } of databases) statements.push(...databaseGrantSql(auditor.user, name, ['SELECT']));
  // What an older version made: every account from anywhere ('%'), the services' with ALL PRIVILEGES.
  const legacy = [
    ...databases.flatMap(({ runtime, migration }) => [runtime.user, migration.user]),
    debezium.user,
    exporter.user,
    auditor.user,
  ];
  statements.push(`DROP USER IF EXISTS ${legacy.map((user) => `${quote(user)}@'%'`).join(', ')}`);
  return statements.join(';\n') + ';';
}

export const mariadb: Component = {
  name: 'mariadb',
  url: `mysql://${settings.host}:${settings.ports.mariadb} (databases ${settings.databases.map((d) => d.name).join(', ')})`,
  startTimeoutMs: 60_000,

  async isReady() {
    if (!(await portOpen(settings.host, settings.ports.mariadb))) return false;
    try {
      await rootSql('SELECT 1');
      return true;
    } catch {
      return false;
    }
  },

  async prepare() {
    mkdirSync(settings.runDir, { recursive: true });
    if (existsSync(join(dataDir, 'mysql'))) return;
    mkdirSync(dataDir, { recursive: true });
    await run(findBinary(['mariadb-install-db', 'mysql_install_db']), [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--user=${userInfo().username}`,
      '--auth-root-authentication-method=socket',
      '--skip-test-db',
    ]);
  },

  launchSpec() {
    return {
      command: findBinary(['mariadbd', 'mysqld']),
      args: [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--socket=${socket}`,
        `--pid-file=${join(dataDir, 'mariadbd.pid')}`,
        `--port=${settings.ports.mariadb}`,
        `--bind-address=${settings.host}`,
        `--user=${userInfo().username}`,
        '--skip-name-resolve',
        // What Debezium needs: a row-based binlog with full row images, a server id, GTIDs.
        '--server-id=1',
        '--log-bin=binlog',
        '--binlog-format=ROW',
        '--binlog-row-image=FULL',
        '--gtid-strict-mode=ON',
        '--log-slave-updates=ON',
        '--binlog-expire-logs-seconds=259200',
        // Durability: the same as MySQL 8's defaults (MariaDB's own default is sync_binlog=0). A committed
        // order is on disk in both the redo log and the binlog that Debezium reads.
        '--sync-binlog=1',
        '--innodb-flush-log-at-trx-commit=1',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        '--innodb-buffer-pool-size=256M',
        '--max-connections=500',
        // A small pool of threads (one group per core) runs the statements of every connection, instead of a
        // thread per connection: about 60 connections on two cores, and each statement otherwise wakes its
        // own thread. Measured (decision 0017): p99 at 20 orders/s 151 ms against 301, less CPU everywhere.
        '--thread-handling=pool-of-threads',
      ],
    };
  },

  async provision() {
    await rootSql(provisioningSql());
  },
};
