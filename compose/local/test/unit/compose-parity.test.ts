import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// compose/docker-compose.yml is the native stack (`npm start`) for machines with Docker: each native
// component has a container, at the same ports. This compares the two from their sources: the components
// `npm start` starts, in order (stack.ts), and the services `docker-compose config` resolves.

// The compose file holds the native stack's defaults: what this run's environment changes (ports, the
// number of instances) is set aside before the stack's modules read it.
for (const name of Object.keys(process.env)) {
  if ((name.startsWith('STACK_') && name !== 'STACK_DIR') || name.endsWith('_INSTANCES')) delete process.env[name];
}
const { components } = await import('../../src/stack.js');
const { settings, versions } = await import('../../src/settings.js');
const { composeConfig, dockerCompose } = await import('../../src/compose-check.js');

interface Service {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number | null>;
  ports?: (string | { published?: number | string; target: number | string })[];
}

const composeDir = join(settings.repoRoot, 'compose');

/** Native component → compose service, where the names differ. */
const composeName: Record<string, string> = {
  // MySQL 8 stands in for MariaDB in compose (Debezium's MySQL connector instead of its MariaDB one).
  mariadb: 'mysql',
};

/** The compose service of a native component: instances (order-1, order-2…) are one service, scaled with `--scale`. */
const serviceOf = (component: string) => composeName[component] ?? component.replace(/-\d+$/, '');

/** Compose services with no native component, and why. */
const composeOnly: Record<string, string> = {
  secrets: 'one-shot: makes the passwords; natively secrets.ts makes each on first use into .stack/secrets',
  'jmx-agent': "one-shot: fetches the JMX exporter agent; natively Maven fetches it (pom.xml's version.jmx-exporter)",
  'register-connectors': "one-shot: registers connectors/*.json; natively connect's provision() does",
  'registry-rules': "one-shot: the registry-wide BACKWARD rule; natively registry's provision() sets it",
  'kafka-ui': 'a UI for people, no part of the system: no native counterpart',
  grafana: 'dashboards for people over Prometheus: no native counterpart (Prometheus is)',
};

/**
 * Native components compose publishes no port for, and where compose sets the port they listen on in
 * their container instead. The services: the gateway is the only way in (natively they listen on
 * 127.0.0.1, for the tests). The exporter: only Prometheus reads it.
 */
const unpublished: Record<string, (service: Service, all: Record<string, Service>) => unknown> = {
  order: (service) => service.environment?.PORT,
  product: (service) => service.environment?.PORT,
  user: (service) => service.environment?.PORT,
  // The image's default port, written in compose only where Prometheus scrapes it.
  'mysqld-exporter': (_, all) => /mysqld-exporter:(\d+)/.exec(String(all.prometheus?.command))?.[1],
};

/** The native stack's ports that are no component's address (settings.ports), and where compose sets each. */
const internalPorts: Record<string, (all: Record<string, Service>) => unknown> = {
  kafkaController: (all) => /CONTROLLER:\/\/:(\d+)/.exec(String(all.kafka?.environment?.KAFKA_LISTENERS))?.[1],
  kafkaMetrics: (all) => /jmx_prometheus_javaagent\.jar=(\d+):/.exec(String(all.kafka?.environment?.KAFKA_OPTS))?.[1],
  connectMetrics: (all) => /jmx_prometheus_javaagent\.jar=(\d+):/.exec(String(all.connect?.environment?.KAFKA_OPTS))?.[1],
  gatewayManagement: (all) => all.gateway?.environment?.MANAGEMENT_PORT,
  // Apicurio's management interface (health, metrics): natively settings' 8091 on 127.0.0.1; in compose
  // the image's own 9000, published nowhere and read by Prometheus alone (registry:9000): nothing to agree on.
  registryManagement: () => 'not compared',
};

/** The host port a compose port entry publishes, if any ("127.0.0.1:3307:3306/tcp" or { published, target }). */
function publishedPort(entry: NonNullable<Service['ports']>[number]): number | undefined {
  if (typeof entry !== 'string') return entry.published === undefined ? undefined : Number(entry.published);
  const parts = entry.replace(/\/\w+$/, '').split(':');
  return parts.length >= 2 ? Number(parts[parts.length - 2]) : undefined;
}

/** The port a native component is reached at: every component's url names it. */
function nativePort(component: { name: string; url: string }): number {
  const port = new RegExp(`${settings.host.replace(/\./g, '\\.')}:(\\d+)`).exec(component.url)?.[1];
  if (!port) throw new Error(`${component.name}: no port in its url ${component.url}`);
  return Number(port);
}

let resolved: Promise<Record<string, Service>> | undefined;
/** docker-compose.yml as Compose resolves it (the tool is fetched on the first run, as in compose-secrets.test.ts). */
function composeServices(): Promise<Record<string, Service>> {
  resolved ??= dockerCompose().then(
    (tool) => (composeConfig(tool, ['docker-compose.yml'], composeDir) as { services: Record<string, Service> }).services,
  );
  return resolved;
}

// Each test lists every difference it finds, not only the first.

test('every native component has a compose service and every compose service a native component, or a reason', async (t) => {
  t.timeout(180_000);
  const services = await composeServices();
  const native = new Set(components.map((component) => serviceOf(component.name)));
  const compose = new Set(Object.keys(services));
  t.true(native.size >= 12, 'the native stack lists its components');
  const differences = [
    ...[...native].filter((name) => !compose.has(name)).map((name) => `the native component ${name} has no compose service`),
    ...[...compose]
      .filter((name) => !native.has(name) && !(name in composeOnly))
      .map((name) => `the compose service ${name} has no native component: map it, or say why in composeOnly`),
    ...Object.keys(composeOnly)
      .filter((name) => !compose.has(name))
      .map((name) => `composeOnly names ${name}, which compose no longer has`),
  ];
  t.deepEqual(differences, []);
});

test("each native component's port is the port compose publishes it on, or the one its container listens on", async (t) => {
  t.timeout(180_000);
  const services = await composeServices();
  const differences: string[] = [];
  const checked = new Set<number>();
  for (const component of components) {
    const name = serviceOf(component.name);
    // Only the first instance: compose runs one container per service, at the first instance's port.
    if (/-\d+$/.test(component.name) && !component.name.endsWith('-1')) continue;
    const service = services[name];
    if (!service) continue; // the test above reports it
    const port = nativePort(component);
    checked.add(port);
    const published = (service.ports ?? []).map(publishedPort).filter((p) => p !== undefined);
    if (name in unpublished) {
      const inside = unpublished[name]!(service, services);
      if (published.length > 0) differences.push(`${name}: compose publishes ${published.join(', ')}, but it is listed in unpublished`);
      if (Number(inside) !== port) differences.push(`${name}: listens on ${String(inside)} in compose, on ${port} natively`);
    } else if (published.join() !== String(port)) {
      differences.push(`${name}: compose publishes ${published.join(', ') || 'nothing'}, the native stack listens on ${port}`);
    }
  }
  // Every other port setting of the native stack is set in compose too (internalPorts says where).
  for (const [key, port] of Object.entries(settings.ports)) {
    if (checked.has(port)) continue;
    const where = internalPorts[key];
    const inside = where?.(services);
    if (!where) differences.push(`settings.ports.${key} (${port}) is no component's address: say in internalPorts where compose sets it`);
    else if (inside !== 'not compared' && Number(inside) !== port) {
      differences.push(`settings.ports.${key}: ${String(inside)} in compose, ${port} natively`);
    }
  }
  t.deepEqual(differences, []);
});

test('the compose images are the versions the native stack pins', async (t) => {
  t.timeout(180_000);
  const services = await composeServices();
  // Debian's version without its packaging suffixes: 2.42.0+ds-5+deb12u1 is upstream's 2.42.0.
  const upstream = (debian: string) => /^\d+(\.\d+)*/.exec(debian)![0];
  const jmxExporter = /<version\.jmx-exporter>([^<]+)</.exec(readFileSync(join(settings.repoRoot, 'compose/local/pom.xml'), 'utf8'))?.[1];
  const expected: [string, string | undefined, string][] = [
    ['kafka', services.kafka?.image, `apache/kafka:${versions.kafka}`],
    ['connect', services.connect?.image, `debezium/connect:${versions.debezium}`],
    ['registry', services.registry?.image, `apicurio/apicurio-registry:${versions.apicurio}`],
    ['prometheus', services.prometheus?.image, `prom/prometheus:v${upstream(versions.prometheus)}`],
    ['mysqld-exporter', services['mysqld-exporter']?.image, `prom/mysqld-exporter:v${upstream(versions.mysqldExporter)}`],
    // The agent's download URL in the one-shot's command.
    ['jmx-agent', String(services['jmx-agent']?.command), `/jmx_prometheus_javaagent/${jmxExporter}/`],
  ];
  const differences = expected
    .filter(([, actual, wanted]) => !actual?.includes(wanted))
    .map(([service, actual, wanted]) => `${service}: ${actual} is not ${wanted}`);
  t.deepEqual(differences, []);
});
