import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { secretsDir, stackSecret, type SecretName } from './secrets.js';

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

/**
 * Extra command-line options for the stack's own processes, for profiling: `STACK_NODE_OPTIONS` goes to
 * every Node process the stack starts (services, gateway, config service; for example `--cpu-prof
 * --cpu-prof-dir=/tmp/profiles`), `STACK_JVM_OPTIONS` to Kafka and Connect (for example
 * `-XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints`, so that JFR's samples are not biased to
 * safepoints). Unlike NODE_OPTIONS they do not reach this CLI or the tests. Split on spaces.
 */
export const extraOptions = (name: 'STACK_NODE_OPTIONS' | 'STACK_JVM_OPTIONS'): string[] =>
  (process.env[name] ?? '').split(/\s+/).filter((option) => option !== '');

/** Versions are pinned once, in compose/local/pom.xml; this only reads them. */
export const versions = {
  kafka: pomProperty('version.kafka'),
  debezium: pomProperty('version.debezium'),
  apicurio: pomProperty('version.apicurio'),
  /** Debian 12's package, fetched with apt-get download and unpacked into the state folder (not installed). */
  prometheus: '2.42.0+ds-5+deb12u1',
  /** Debian 12's Prometheus MySQL/MariaDB exporter, fetched the same way. */
  mysqldExporter: '0.14.0-3+b5',
  /** Debian 12's Compose 1.29, fetched the same way to check compose/*.yml (compose-check.ts): never run on an engine. */
  dockerCompose: '1.29.2-3',
};

/** A database account of the stack: its user name and the secret that holds its password. */
export interface DatabaseAccount {
  user: string;
  secret: SecretName;
}

/** A service's database and its two accounts. */
export interface ServiceDatabase {
  service: 'order' | 'product' | 'user';
  name: string;
  runtime: DatabaseAccount;
  migration: DatabaseAccount;
}

/** A node count from the environment: `allowed` lists what the stack can run, anything else is an error. */
function countFromEnv(name: string, allowed: number[]): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return allowed[0]!;
  const value = Number(raw);
  if (!allowed.includes(value)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return value;
}

/**
 * Cluster mode: `STACK_KAFKA_BROKERS=3` runs three KRaft nodes (each broker and controller), and
 * `STACK_CONNECT_WORKERS=2` (or 3) runs that many distributed workers in one Connect group. One of each by
 * default, so `npm start` and `npm test` stay light. Three brokers, not two: with replication factor 3
 * and min.insync.replicas 2, one node may die and `acks=all` writes still succeed, and the controller
 * quorum (3 voters) still has its majority.
 */
const cluster = {
  kafkaBrokers: countFromEnv('STACK_KAFKA_BROKERS', [1, 3]),
  connectWorkers: countFromEnv('STACK_CONNECT_WORKERS', [1, 2, 3]),
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
  /**
   * The data of MariaDB, Kafka, Prometheus. A three-broker cluster keeps its own, beside the single
   * broker's: Connect's offsets live in Kafka and point into MariaDB's binlog, so the two only make sense
   * together, and switching `STACK_KAFKA_BROKERS` must never pair one cluster's Kafka with the other's database.
   */
  dataDir: join(stateDir, cluster.kafkaBrokers === 1 ? 'data' : `data-${cluster.kafkaBrokers}-brokers`),
  cluster,
  /** Topics' replication: 3 copies, 2 of them in sync for a write, on a cluster; 1 on a single broker. */
  replication: cluster.kafkaBrokers >= 3 ? { factor: 3, minInSync: 2 } : { factor: 1, minInSync: 1 },
  confDir: join(stateDir, 'conf'),
  /** The development JWT signing key (private JWK, mode 0600), made once by `ensureSigningKey`. */
  signingKeyFile: join(stateDir, 'secrets', 'jwt-signing-key.json'),
  /** Its public JWK, what the gateway and every service verify tokens with. */
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
    /** The gateway's management server (detailed /health, /metrics), on 127.0.0.1 only. */
    gatewayManagement: intFromEnv('STACK_GATEWAY_MANAGEMENT_PORT', 8079),
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
  /**
   * The database accounts besides the services' own (`databases`). Passwords are not settings: each is made
   * on first use into `<state folder>/secrets/<secret>` (secrets.ts) and read with `accountPassword`.
   */
  credentials: {
    /**
     * The hosts every account is created for: MariaDB listens on 127.0.0.1 only, and `localhost` is its
     * unix socket. Never '%'.
     */
    hosts: ['127.0.0.1', 'localhost'],
    /** Debezium's connectors: the binlog and SELECT on the captured databases. */
    debezium: { user: 'debezium', secret: 'db-debezium' } satisfies DatabaseAccount,
    /** The MySQL exporter's user: server status and variables only, no table data. */
    exporter: { user: 'exporter', secret: 'db-exporter' } satisfies DatabaseAccount,
    /** The audit tools (`npm run audit`, the tests' audits): SELECT on the three service databases, nothing else. */
    auditor: { user: 'auditor', secret: 'db-auditor' } satisfies DatabaseAccount,
  },
  /**
   * One database per service, each with two accounts that reach only that database: `runtime`, what the
   * service serves with (SELECT, INSERT, UPDATE, DELETE), and `migration`, what it migrates with at start
   * (DDL as well).
   */
  databases: [
    {
      service: 'order',
      name: 'order_db',
      runtime: { user: 'order_svc', secret: 'db-order-runtime' },
      migration: { user: 'order_migrate', secret: 'db-order-migrate' },
    },
    {
      service: 'product',
      name: 'product_db',
      runtime: { user: 'product_svc', secret: 'db-product-runtime' },
      migration: { user: 'product_migrate', secret: 'db-product-migrate' },
    },
    {
      service: 'user',
      name: 'user_db',
      runtime: { user: 'user_svc', secret: 'db-user-runtime' },
      migration: { user: 'user_migrate', secret: 'db-user-migrate' },
    },
  ] satisfies ServiceDatabase[],
};

/**
 * Node `n` (1-based) of a Kafka or Connect cluster listens on the first node's port + 100·(n−1): 9092,
 * 9192, 9292 for brokers, 8083, 8183 for workers.
 */
export const nodePort = (port: number, n: number): number => port + 100 * (n - 1);

/** A Kafka node of the stack: the first is `kafka`, the others `kafka-2`, `kafka-3`. */
export interface KafkaNode {
  id: number;
  name: string;
  port: number;
  controllerPort: number;
  metricsPort: number;
}

export function kafkaNodes(): KafkaNode[] {
  const { ports } = settings;
  return Array.from({ length: settings.cluster.kafkaBrokers }, (_, i) => ({
    id: i + 1,
    name: i === 0 ? 'kafka' : `kafka-${i + 1}`,
    port: nodePort(ports.kafka, i + 1),
    controllerPort: nodePort(ports.kafkaController, i + 1),
    metricsPort: nodePort(ports.kafkaMetrics, i + 1),
  }));
}

/** Every broker as `host:port,…`: what each Kafka client of the stack bootstraps from. */
export const kafkaBootstrap = (): string =>
  kafkaNodes()
    .map((node) => `${settings.host}:${node.port}`)
    .join(',');

/** A Connect worker of the stack: the first is `connect`, the others `connect-2`, `connect-3`. */
export interface ConnectWorker {
  n: number;
  name: string;
  port: number;
  metricsPort: number;
}

export function connectWorkers(): ConnectWorker[] {
  const { ports } = settings;
  return Array.from({ length: settings.cluster.connectWorkers }, (_, i) => ({
    n: i + 1,
    name: i === 0 ? 'connect' : `connect-${i + 1}`,
    port: nodePort(ports.connect, i + 1),
    metricsPort: nodePort(ports.connectMetrics, i + 1),
  }));
}

/** The password of one of the stack's database accounts, made now if it is not there yet (secrets.ts). */
export function accountPassword(account: DatabaseAccount): string {
  return stackSecret(settings.stateDir, account.secret);
}

/**
 * The file holding that password, made now if it is not there yet: what a process of the stack is given
 * (`DB_PASSWORD_FILE`), so the password is in neither its environment nor its command line.
 */
export function accountPasswordFile(account: DatabaseAccount): string {
  accountPassword(account);
  return join(secretsDir(settings.stateDir), account.secret);
}

/**
 * The users of the stack's two HTTP basic realms: Eureka (Spring Security in services/eureka-server) and
 * Kafka Connect's REST API (BasicAuthSecurityRestExtension). Their passwords are the secrets `eureka` and
 * `connect-rest`.
 */
export const httpUsers = { eureka: 'eureka', connect: 'connect' } as const;

/** The file holding the stack secret `name`, made now if it is not there yet (secrets.ts). */
export function secretFile(name: SecretName): string {
  stackSecret(settings.stateDir, name);
  return join(secretsDir(settings.stateDir), name);
}

/**
 * The endpoints the services and tests use, as environment variables. Passwords are given as the files
 * that hold them (`*_FILE`), so none is printed with the rest.
 */
export function stackEnvironment(): Record<string, string> {
  const { host, ports } = settings;
  return {
    DB_HOST: host,
    DB_PORT: String(ports.mariadb),
    KAFKA_BROKERS: kafkaBootstrap(),
    SCHEMA_REGISTRY_URL: `http://${host}:${ports.registry}/apis/ccompat/v7`,
    KAFKA_CONNECT_URL: `http://${host}:${ports.connect}`,
    KAFKA_CONNECT_USERNAME: httpUsers.connect,
    KAFKA_CONNECT_PASSWORD_FILE: secretFile('connect-rest'),
    GATEWAY_URL: `http://${host}:${ports.gateway}`,
    EUREKA_URL: `http://${host}:${ports.eureka}/eureka`,
    EUREKA_USERNAME: httpUsers.eureka,
    EUREKA_PASSWORD_FILE: secretFile('eureka'),
    CONFIG_SERVER_URL: `http://${host}:${ports.configServer}`,
  };
}
