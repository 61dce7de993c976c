import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Repository root (compose/local/dist/src -> ../../../..). */
export const repoRoot = resolve(import.meta.dirname, '../../../..');

const pom = readFileSync(join(repoRoot, 'compose/local/pom.xml'), 'utf8');

function pomProperty(name: string): string {
  const match = new RegExp(`<${name.replace(/\./g, '\\.')}>([^<]+)</`).exec(pom);
  if (!match?.[1]) throw new Error(`compose/local/pom.xml has no <${name}> property`);
  return match[1].trim();
}

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0 || value > 65535) {
    throw new Error(`${name} must be a port number, got "${raw}"`);
  }
  return value;
}

/** Versions are pinned once, in compose/local/pom.xml; this only reads them. */
export const versions = {
  kafka: pomProperty('version.kafka'),
  debezium: pomProperty('version.debezium'),
  apicurio: pomProperty('version.apicurio'),
  /** Debian 12's package, fetched with apt-get download and unpacked into the state folder (not installed). */
  prometheus: '2.42.0+ds-5+deb12u1',
  /** Debian 12's Prometheus MySQL/MariaDB exporter, fetched the same way. */
  mysqldExporter: '0.14.0-3+b5',
};

const stateDir = resolve(process.env.STACK_DIR ?? join(repoRoot, '.stack'));
const distDir = join(stateDir, 'dist');

/** Everything the native stack needs to know about where things live and listen. */
export const settings = {
  repoRoot,
  stateDir,
  distDir,
  runDir: join(stateDir, 'run'),
  /** The supervisor's record of restarts, one JSON file per component or connector, for `npm run status`. */
  restartsDir: join(stateDir, 'run', 'restarts'),
  logDir: join(stateDir, 'logs'),
  dataDir: join(stateDir, 'data'),
  confDir: join(stateDir, 'conf'),
  /** The development JWT signing key (private JWK, mode 0600), made once by `ensureSigningKey`. */
  signingKeyFile: join(stateDir, 'secrets', 'jwt-signing-key.json'),
  /** Its public JWK, what the gateway verifies tokens with. */
  publicKeyFile: join(stateDir, 'secrets', 'jwt-public-key.json'),
  kafkaLibs: join(distDir, `kafka-${versions.kafka}`, 'libs'),
  connectPlugins: join(distDir, `connect-plugins-${versions.debezium}`),
  apicurioHome: join(distDir, `apicurio-registry-${versions.apicurio}`),
  /** Prometheus' JMX exporter java agent, for Kafka and Connect. */
  jmxExporterJar: join(distDir, 'jmx-exporter', 'jmx_prometheus_javaagent.jar'),
  connectorsDir: join(repoRoot, 'connectors'),
  host: '127.0.0.1',
  ports: {
    mariadb: intFromEnv('STACK_DB_PORT', 3307),
    kafka: intFromEnv('STACK_KAFKA_PORT', 9092),
    kafkaController: intFromEnv('STACK_KAFKA_CONTROLLER_PORT', 9093),
    connect: intFromEnv('STACK_CONNECT_PORT', 8083),
    registry: intFromEnv('STACK_REGISTRY_PORT', 8081),
    gateway: intFromEnv('STACK_GATEWAY_PORT', 8080),
    eureka: intFromEnv('STACK_EUREKA_PORT', 8761),
    configServer: intFromEnv('STACK_CONFIG_SERVER_PORT', 8888),
    prometheus: intFromEnv('STACK_PROMETHEUS_PORT', 9090),
    /** The JMX exporter agents' /metrics in Kafka and in Connect. */
    kafkaMetrics: intFromEnv('STACK_KAFKA_METRICS_PORT', 9404),
    connectMetrics: intFromEnv('STACK_CONNECT_METRICS_PORT', 9405),
    /** The MySQL exporter's /metrics, MariaDB's server metrics. */
    mariadbMetrics: intFromEnv('STACK_MARIADB_METRICS_PORT', 9104),
    /** Apicurio's Quarkus management interface: health and Prometheus metrics. */
    registryManagement: intFromEnv('STACK_REGISTRY_MANAGEMENT_PORT', 8091),
  },
  /** Development credentials of the local stack; override them through the environment. */
  credentials: {
    debeziumUser: process.env.DEBEZIUM_DB_USER ?? 'debezium',
    debeziumPassword: process.env.DEBEZIUM_DB_PASSWORD ?? 'dbz-local-only',
    servicePassword: process.env.SERVICE_DB_PASSWORD ?? 'svc-local-only',
    /** The MySQL exporter's user: server status and variables only, no table data. */
    exporterUser: process.env.EXPORTER_DB_USER ?? 'exporter',
    exporterPassword: process.env.EXPORTER_DB_PASSWORD ?? 'exp-local-only',
  },
  /** One database per service, each with its own user that can touch only that database. */
  databases: [
    { name: 'order_db', user: 'order_svc' },
    { name: 'product_db', user: 'product_svc' },
    { name: 'user_db', user: 'user_svc' },
  ],
};

/** The endpoints the services and tests use, as environment variables. */
export function stackEnvironment(): Record<string, string> {
  const { host, ports } = settings;
  return {
    DB_HOST: host,
    DB_PORT: String(ports.mariadb),
    DB_PASSWORD: settings.credentials.servicePassword,
    KAFKA_BROKERS: `${host}:${ports.kafka}`,
    SCHEMA_REGISTRY_URL: `http://${host}:${ports.registry}/apis/ccompat/v7`,
    KAFKA_CONNECT_URL: `http://${host}:${ports.connect}`,
    GATEWAY_URL: `http://${host}:${ports.gateway}`,
    EUREKA_URL: `http://${host}:${ports.eureka}/eureka`,
    CONFIG_SERVER_URL: `http://${host}:${ports.configServer}`,
  };
}
