import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Component } from '../component.js';
import { httpOk } from '../component.js';
import { fetchDebianPackage } from '../debian.js';
import { accountPassword, settings, versions } from '../settings.js';

/** Debian's Prometheus MySQL exporter, unpacked (not installed) into the state folder. */
const home = join(settings.distDir, `prometheus-mysqld-exporter-${versions.mysqldExporter}`);
const binary = join(home, 'usr/bin/prometheus-mysqld-exporter');
/** Its credentials, in a file only this user can read rather than in its environment or command line. */
const myCnf = join(settings.confDir, 'mysqld-exporter.cnf');
const base = `http://${settings.host}:${settings.ports.mariadbMetrics}`;

function writeMyCnf(): void {
  const { host, ports, credentials } = settings;
  const { exporter } = credentials;
  const lines = ['[client]', `user=${exporter.user}`, `password=${accountPassword(exporter)}`, `host=${host}`, `port=${ports.mariadb}`];
  mkdirSync(settings.confDir, { recursive: true });
  writeFileSync(myCnf, `${lines.join('\n')}\n`, { mode: 0o600 });
}

/**
 * MariaDB's server metrics for Prometheus (job `mariadb`), as the least-privileged user that
 * mariadb.ts provisions. Started after MariaDB, whose provisioning creates that user.
 */
export const mysqldExporter: Component = {
  name: 'mysqld-exporter',
  url: `${base}/metrics (MariaDB's metrics, as ${settings.credentials.exporter.user})`,
  startTimeoutMs: 30_000,

  // The landing page: /metrics would query the database on every readiness probe.
  isReady: () => httpOk(`${base}/`),

  async prepare() {
    await fetchDebianPackage({ name: 'prometheus-mysqld-exporter', version: versions.mysqldExporter, home, files: [binary] });
    writeMyCnf();
  },

  launchSpec() {
    return {
      command: binary,
      args: [
        `--config.my-cnf=${myCnf}`,
        `--web.listen-address=${settings.host}:${settings.ports.mariadbMetrics}`,
        // A single server, no replica: SHOW SLAVE STATUS would only fail (it needs SLAVE MONITOR) on every scrape.
        '--no-collect.slave_status',
        // What an operator of this stack reads besides the default status and variables: the binlog that
        // Debezium streams (its size), and what the connections are doing.
        '--collect.binlog_size',
        '--collect.info_schema.processlist',
      ],
    };
  },
};
