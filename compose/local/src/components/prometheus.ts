import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Component } from '../component.js';
import { httpOk } from '../component.js';
import { fetchDebianPackage } from '../debian.js';
import { connectWorkers, kafkaNodes, settings, stackEnvironment, versions } from '../settings.js';

/** Debian's Prometheus, unpacked (not installed) into the state folder: the binaries under usr/bin. */
const home = join(settings.distDir, `prometheus-${versions.prometheus}`);
export const prometheusBinary = join(home, 'usr/bin/prometheus');
export const promtoolBinary = join(home, 'usr/bin/promtool');
/** The configuration and rules in the repository (the template has ${VARIABLE}s for the stack's addresses). */
export const monitoringDir = join(settings.repoRoot, 'monitoring/prometheus');
export const prometheusUrl = `http://${settings.host}:${settings.ports.prometheus}`;
const configFile = join(settings.confDir, 'prometheus.yml');

/** Debian's `prometheus` package: Prometheus and promtool, fetched once (see debian.ts). */
export function fetchPrometheus(): Promise<void> {
  return fetchDebianPackage({ name: 'prometheus', version: versions.prometheus, home, files: [prometheusBinary, promtoolBinary] });
}

/** The repository's prometheus.yml with this stack's addresses, and the rules by absolute path. */
export function writePrometheusConfig(): string {
  const env: Record<string, string> = {
    ...stackEnvironment(),
    PROMETHEUS_ADDRESS: `${settings.host}:${settings.ports.prometheus}`,
    REGISTRY_MANAGEMENT_ADDRESS: `${settings.host}:${settings.ports.registryManagement}`,
    // One target per node: the template quotes the address ('${…}'), so several are joined with "', '".
    KAFKA_METRICS_ADDRESS: kafkaNodes()
      .map((node) => `${settings.host}:${node.metricsPort}`)
      .join("', '"),
    CONNECT_METRICS_ADDRESS: connectWorkers()
      .map((worker) => `${settings.host}:${worker.metricsPort}`)
      .join("', '"),
    MARIADB_METRICS_ADDRESS: `${settings.host}:${settings.ports.mariadbMetrics}`,
    RULES_DIR: join(monitoringDir, 'rules'),
  };
  const text = readFileSync(join(monitoringDir, 'prometheus.yml'), 'utf8').replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => {
    if (env[name] === undefined) throw new Error(`monitoring/prometheus/prometheus.yml: no value for ${whole}`);
    return env[name]!;
  });
  mkdirSync(settings.confDir, { recursive: true });
  writeFileSync(configFile, text);
  return configFile;
}

export const prometheus: Component = {
  name: 'prometheus',
  url: `${prometheusUrl}/ (targets: ${prometheusUrl}/api/v1/targets)`,
  startTimeoutMs: 60_000,

  isReady: () => httpOk(`${prometheusUrl}/-/ready`),

  async prepare() {
    writePrometheusConfig();
    mkdirSync(join(settings.dataDir, 'prometheus'), { recursive: true });
  },

  launchSpec() {
    return {
      command: prometheusBinary,
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(settings.dataDir, 'prometheus')}`,
        '--storage.tsdb.retention.time=2d',
        `--web.listen-address=${settings.host}:${settings.ports.prometheus}`,
      ],
    };
  },
};
