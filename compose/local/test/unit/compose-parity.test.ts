import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ConnectWorker, KafkaNode } from '../../src/settings.js';

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

let tool: ReturnType<typeof dockerCompose> | undefined;
const resolved = new Map<string, Promise<Record<string, Service>>>();
/**
 * The compose files as Compose resolves them, later files overriding earlier ones: docker-compose.yml alone
 * unless told (the tool is fetched on the first run, as in compose-secrets.test.ts; once, for every test).
 */
function composeServices(files = ['docker-compose.yml']): Promise<Record<string, Service>> {
  tool ??= dockerCompose();
  const key = files.join(' ');
  if (!resolved.has(key)) {
    resolved.set(
      key,
      tool.then((compose) => (composeConfig(compose, files, composeDir) as { services: Record<string, Service> }).services),
    );
  }
  return resolved.get(key)!;
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

// Cluster mode: `STACK_KAFKA_BROKERS=3 STACK_CONNECT_WORKERS=2` natively, docker-compose.cluster.yml stacked on
// docker-compose.yml in compose. The tests above compare the defaults; these, the nodes cluster mode adds.

/** What cluster mode changes in the native stack, as its own modules compute it. */
interface NativeCluster {
  components: string[];
  kafkaNodes: KafkaNode[];
  connectWorkers: ConnectWorker[];
  replication: { factor: number; minInSync: number };
}

const clusterFiles = ['docker-compose.yml', 'docker-compose.cluster.yml'];

/** The services of compose that are nodes: kafka, kafka-2…, connect, connect-2… (kafka-ui is a UI, not a node). */
const clusterNode = /^(kafka|connect)(-\d+)?$/;

let nativeCluster: Promise<NativeCluster> | undefined;
/**
 * The native stack in cluster mode. Its settings are read when its modules load, and this process has
 * loaded them with the defaults already (an ES module is evaluated once per process): a child Node process
 * loads them again with the cluster's environment and prints what the tests compare. The same state folder
 * as this process, so it names the same paths; loading the modules starts, fetches and writes nothing.
 */
function clusterNative(): Promise<NativeCluster> {
  if (!nativeCluster) {
    const stack = new URL('../../src/stack.js', import.meta.url).href;
    const settingsModule = new URL('../../src/settings.js', import.meta.url).href;
    const script = `
      const { components } = await import(${JSON.stringify(stack)});
      const { connectWorkers, kafkaNodes, settings } = await import(${JSON.stringify(settingsModule)});
      console.log(JSON.stringify({
        components: components.map((component) => component.name),
        kafkaNodes: kafkaNodes(),
        connectWorkers: connectWorkers(),
        replication: settings.replication,
      }));`;
    nativeCluster = promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      // This process's environment, the run's STACK_* and *_INSTANCES settings gone (above): the defaults, but for the cluster.
      env: { ...process.env, STACK_DIR: settings.stateDir, STACK_KAFKA_BROKERS: '3', STACK_CONNECT_WORKERS: '2' },
      encoding: 'utf8',
      timeout: 60_000,
    }).then(({ stdout }) => JSON.parse(stdout.trim().split('\n').at(-1)!) as NativeCluster);
  }
  return nativeCluster;
}

test('in cluster mode, every native Kafka node and Connect worker is a compose service of its name, and compose has no other', async (t) => {
  t.timeout(180_000);
  const [native, services] = await Promise.all([clusterNative(), composeServices(clusterFiles)]);
  // The child process did run in cluster mode: three nodes, two workers, among the components it starts.
  t.deepEqual(
    native.components.filter((name) => clusterNode.test(name)),
    ['kafka', 'kafka-2', 'kafka-3', 'connect', 'connect-2'],
  );
  t.deepEqual(
    [...native.kafkaNodes, ...native.connectWorkers].map((node) => node.name),
    ['kafka', 'kafka-2', 'kafka-3', 'connect', 'connect-2'],
  );
  const nativeNodes = new Set(native.components.filter((name) => clusterNode.test(name)));
  const composeNodes = new Set(Object.keys(services).filter((name) => clusterNode.test(name)));
  const differences = [
    ...[...nativeNodes].filter((name) => !composeNodes.has(name)).map((name) => `the native node ${name} has no compose service`),
    ...[...composeNodes]
      .filter((name) => !nativeNodes.has(name))
      .map((name) => `the compose service ${name} is no node of the native cluster`),
  ];
  // Cluster mode adds nodes and nothing else: the other components are the default stack's, which the tests
  // above compare with docker-compose.yml.
  const others = native.components.filter((name) => !clusterNode.test(name));
  const defaults = components.map((component) => component.name).filter((name) => !clusterNode.test(name));
  if (others.join() !== defaults.join()) {
    differences.push(`cluster mode changes the other components: ${others.join(', ')} instead of ${defaults.join(', ')}`);
  }
  t.deepEqual(differences, []);
});

test("in cluster mode, each node's port is the host port compose publishes it on", async (t) => {
  t.timeout(180_000);
  const [native, services] = await Promise.all([clusterNative(), composeServices(clusterFiles)]);
  const first = native.kafkaNodes[0]!;
  const firstWorker = native.connectWorkers[0]!;
  const prometheus = String(services.prometheus?.command);
  /** Prometheus in compose scrapes `service:port`, as natively it scrapes every node's metrics port. */
  const scraped = (service: string, port: unknown) => new RegExp(`(^|[^\\w-])${service}:${String(port)}\\b`).test(prometheus);
  const differences: string[] = [];
  for (const node of native.kafkaNodes) {
    const service = services[node.name];
    if (!service) continue; // the test above reports it
    const environment = service.environment ?? {};
    const published = (service.ports ?? []).map(publishedPort).filter((p) => p !== undefined);
    if (published.join() !== String(node.port)) {
      differences.push(`${node.name}: compose publishes ${published.join(', ') || 'nothing'}, the native node listens on ${node.port}`);
    }
    // What a client on the host is sent to after bootstrapping: the published port too.
    const advertised = /EXTERNAL:\/\/[^,]*:(\d+)/.exec(String(environment.KAFKA_ADVERTISED_LISTENERS))?.[1];
    if (Number(advertised) !== node.port) differences.push(`${node.name}: advertises ${advertised} to the host, natively ${node.port}`);
    // Inside its container each node has its own network, so every one listens where the first native node does
    // (natively the nodes share 127.0.0.1, hence the +100 per node).
    const controller = /CONTROLLER:\/\/:(\d+)/.exec(String(environment.KAFKA_LISTENERS))?.[1];
    const metrics = /jmx_prometheus_javaagent\.jar=(\d+):/.exec(String(environment.KAFKA_OPTS))?.[1];
    if (Number(controller) !== first.controllerPort) {
      differences.push(
        `${node.name}: its controller listens on ${controller} in compose, the first native node's on ${first.controllerPort}`,
      );
    }
    if (Number(metrics) !== first.metricsPort) {
      differences.push(`${node.name}: its metrics are on ${metrics} in compose, the first native node's on ${first.metricsPort}`);
    }
    if (!scraped(node.name, metrics)) differences.push(`${node.name}: Prometheus in compose does not scrape ${node.name}:${metrics}`);
  }
  for (const worker of native.connectWorkers) {
    const service = services[worker.name];
    if (!service) continue;
    const published = (service.ports ?? []).map(publishedPort).filter((p) => p !== undefined);
    if (published.join() !== String(worker.port)) {
      differences.push(
        `${worker.name}: compose publishes ${published.join(', ') || 'nothing'}, the native worker listens on ${worker.port}`,
      );
    }
    const metrics = /jmx_prometheus_javaagent\.jar=(\d+):/.exec(String(service.environment?.KAFKA_OPTS))?.[1];
    if (Number(metrics) !== firstWorker.metricsPort) {
      differences.push(`${worker.name}: its metrics are on ${metrics} in compose, the first native worker's on ${firstWorker.metricsPort}`);
    }
    if (!scraped(worker.name, metrics)) differences.push(`${worker.name}: Prometheus in compose does not scrape ${worker.name}:${metrics}`);
  }
  t.deepEqual(differences, []);
});

test('in cluster mode, the quorum, the replication and the timeouts are the native ones', async (t) => {
  t.timeout(180_000);
  const [native, services] = await Promise.all([clusterNative(), composeServices(clusterFiles)]);
  const { factor, minInSync } = native.replication;
  // What kafka.ts writes into every node's server.properties in cluster mode, as compose's KAFKA_* variables
  // (the image turns KAFKA_MIN_INSYNC_REPLICAS into min.insync.replicas…). The replication from settings.ts;
  // the timeouts are literals in kafka.ts (writeServerProperties), not exported: keep these the same.
  const kafka: Record<string, number> = {
    KAFKA_DEFAULT_REPLICATION_FACTOR: factor,
    KAFKA_MIN_INSYNC_REPLICAS: minInSync,
    KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: factor,
    KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: factor,
    KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: minInSync,
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: factor,
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: minInSync,
    KAFKA_BROKER_SESSION_TIMEOUT_MS: 3000,
    KAFKA_BROKER_HEARTBEAT_INTERVAL_MS: 1000,
  };
  // Likewise connect.ts's writeProperties for every worker; the group's timeouts are literals there.
  const connect: Record<string, number> = {
    CONNECT_CONFIG_STORAGE_REPLICATION_FACTOR: factor,
    CONNECT_OFFSET_STORAGE_REPLICATION_FACTOR: factor,
    CONNECT_STATUS_STORAGE_REPLICATION_FACTOR: factor,
    CONNECT_SESSION_TIMEOUT_MS: 6000,
    CONNECT_HEARTBEAT_INTERVAL_MS: 2000,
    CONNECT_SCHEDULED_REBALANCE_MAX_DELAY_MS: 0,
  };
  t.deepEqual([factor, minInSync], [3, 2], 'the native cluster keeps 3 copies, 2 in sync');
  const differences: string[] = [];
  const compare = (name: string, expected: Record<string, number>) => {
    const environment = services[name]?.environment ?? {};
    for (const [variable, value] of Object.entries(expected)) {
      // As text: a variable left empty (null) is not 0.
      if (String(environment[variable]) !== String(value)) {
        differences.push(`${name}: ${variable} is ${String(environment[variable])} in compose, ${value} natively`);
      }
    }
  };
  // The same voters: natively id@127.0.0.1:<that node's controller port>; in compose id@<the service of the node
  // of that id>:<the controller port every container listens on, the first native node's>.
  const controllerPort = native.kafkaNodes[0]!.controllerPort;
  const voters = native.kafkaNodes.map((node) => `${node.id}@${node.name}:${controllerPort}`).join();
  for (const node of native.kafkaNodes) {
    const environment = services[node.name]?.environment;
    if (!environment) continue; // the first cluster test reports it
    compare(node.name, kafka);
    if (Number(environment.KAFKA_NODE_ID) !== node.id) {
      differences.push(`${node.name}: KAFKA_NODE_ID is ${environment.KAFKA_NODE_ID} in compose, ${node.id} natively`);
    }
    const listed = String(environment.KAFKA_CONTROLLER_QUORUM_VOTERS);
    if (listed !== voters) differences.push(`${node.name}: the quorum's voters are ${listed} in compose, ${voters} natively`);
  }
  for (const worker of native.connectWorkers) {
    if (services[worker.name]) compare(worker.name, connect);
  }
  t.deepEqual(differences, []);
});
