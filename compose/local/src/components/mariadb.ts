import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Component } from '../component.js';
import { portOpen } from '../component.js';
import { settings } from '../settings.js';

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
  const { stdout } = await run(client, ['--no-defaults', `--socket=${socket}`, '-uroot', '-N', '-B', '-e', sql]);
  return stdout;
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The databases, the per-service users, the Debezium user and the exporter's. Idempotent: it runs on every
 * start, so a changed grant reaches an existing data directory too.
 */
function provisioningSql(): string {
  const { credentials, databases } = settings;
  const dbz = quote(credentials.debeziumUser);
  const statements: string[] = [];
  for (const { name, user } of databases) {
    statements.push(
      `CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      `CREATE USER IF NOT EXISTS ${quote(user)}@'%' IDENTIFIED BY ${quote(credentials.servicePassword)}`,
      `ALTER USER ${quote(user)}@'%' IDENTIFIED BY ${quote(credentials.servicePassword)}`,
      `GRANT ALL PRIVILEGES ON \`${name}\`.* TO ${quote(user)}@'%'`,
    );
  }
  // Exactly what Debezium documents for its MariaDB connector: SELECT (here narrowed to the captured
  // databases), RELOAD and SHOW DATABASES for the schema snapshot, REPLICATION SLAVE to read the binlog,
  // BINLOG MONITOR (MariaDB's name for MySQL's REPLICATION CLIENT) for SHOW MASTER STATUS / BINARY LOGS.
  statements.push(
    `CREATE USER IF NOT EXISTS ${dbz}@'%' IDENTIFIED BY ${quote(credentials.debeziumPassword)}`,
    `ALTER USER ${dbz}@'%' IDENTIFIED BY ${quote(credentials.debeziumPassword)}`,
    `GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ${dbz}@'%'`,
    ...databases.map(({ name }) => `GRANT SELECT ON \`${name}\`.* TO ${dbz}@'%'`),
  );
  // The MySQL exporter (mysqld-exporter.ts): PROCESS for the thread list and InnoDB's information_schema
  // tables, BINLOG MONITOR (REPLICATION CLIENT) for the binlog sizes, SELECT on performance_schema for its
  // optional collectors; no SELECT on any service's data. Three connections at most, as its docs advise.
  const exporter = quote(credentials.exporterUser);
  const exporterAuth = `IDENTIFIED BY ${quote(credentials.exporterPassword)} WITH MAX_USER_CONNECTIONS 3`;
  statements.push(
    `CREATE USER IF NOT EXISTS ${exporter}@'%' ${exporterAuth}`,
    `ALTER USER ${exporter}@'%' ${exporterAuth}`,
    `GRANT PROCESS, BINLOG MONITOR ON *.* TO ${exporter}@'%'`,
    `GRANT SELECT ON performance_schema.* TO ${exporter}@'%'`,
  );
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
      ],
    };
  },

  async provision() {
    await rootSql(provisioningSql());
  },
};
