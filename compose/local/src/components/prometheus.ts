import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Component } from '../component.js';
import { httpOk } from '../component.js';
import { settings, stackEnvironment, versions } from '../settings.js';

/** Debian's Prometheus, unpacked (not installed) into the state folder: the binaries under usr/bin. */
const home = join(settings.distDir, `prometheus-${versions.prometheus}`);
export const prometheusBinary = join(home, 'usr/bin/prometheus');
export const promtoolBinary = join(home, 'usr/bin/promtool');
/** The configuration and rules in the repository (the template has ${VARIABLE}s for the stack's addresses). */
export const monitoringDir = join(settings.repoRoot, 'monitoring/prometheus');
export const prometheusUrl = `http://${settings.host}:${settings.ports.prometheus}`;
const configFile = join(settings.confDir, 'prometheus.yml');

function run(command: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output.trim().slice(-800)}`))));
  });
}

/**
 * Fetches Prometheus and promtool once: `apt-get download` of the pinned Debian package (after an
 * `apt-get update` when the package lists do not know it yet) and `dpkg-deb -x` into the state folder.
 * Nothing is installed system-wide and nothing is needed from a package manager at run time.
 */
export async function fetchPrometheus(): Promise<void> {
  if (existsSync(prometheusBinary) && existsSync(promtoolBinary)) return;
  const debs = join(settings.distDir, 'debs');
  mkdirSync(debs, { recursive: true });
  const wanted = `prometheus=${versions.prometheus}`;
  try {
    await run('apt-get', ['download', wanted], debs);
  } catch {
    await run('apt-get', ['update', '-qq']);
    await run('apt-get', ['download', wanted], debs);
  }
  const deb = readdirSync(debs).find((name) => name.startsWith('prometheus_') && name.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${wanted} left no .deb in ${debs}`);
  rmSync(home, { recursive: true, force: true });
  await run('dpkg-deb', ['-x', join(debs, deb), home]);
}

/** The repository's prometheus.yml with this stack's addresses, and the rules by absolute path. */
export function writePrometheusConfig(): string {
  const env: Record<string, string> = {
    ...stackEnvironment(),
    PROMETHEUS_ADDRESS: `${settings.host}:${settings.ports.prometheus}`,
    REGISTRY_MANAGEMENT_ADDRESS: `${settings.host}:${settings.ports.registryManagement}`,
    KAFKA_METRICS_ADDRESS: `${settings.host}:${settings.ports.kafkaMetrics}`,
    CONNECT_METRICS_ADDRESS: `${settings.host}:${settings.ports.connectMetrics}`,
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
