import { join } from 'node:path';
import type { Component } from '../component.js';
import { httpJson } from '../component.js';
import { ensureSigningKey } from '../dev-token.js';
import { accountPasswordFile, extraOptions, settings, stackEnvironment } from '../settings.js';

/** The domain services and their first port; instance i of a service listens on base + 10 * i. */
const domainServices = [
  { name: 'order', basePort: 3001 },
  { name: 'product', basePort: 3002 },
  { name: 'user', basePort: 3003 },
] as const;

function instanceCount(service: string): number {
  const raw = process.env[`${service.toUpperCase()}_INSTANCES`] ?? '1';
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > 9) {
    throw new Error(`${service.toUpperCase()}_INSTANCES must be 1 to 9, got "${raw}"`);
  }
  return count;
}

function instances(service: (typeof domainServices)[number]) {
  return Array.from({ length: instanceCount(service.name) }, (_, i) => ({
    id: `${service.name}-${i + 1}`,
    port: service.basePort + 10 * i,
  }));
}

/** Ready once its /health says UP for this very instance (HTTP up, migrations done, consumer in its group). */
async function answersAs(url: string, instance: string): Promise<boolean> {
  try {
    const health = await httpJson<{ status?: string; instance?: string }>(`${url}/health`);
    return health.status === 'UP' && (health.instance === undefined || health.instance === instance);
  } catch {
    return false;
  }
}

/**
 * A service's two database accounts (settings.databases): it serves as the runtime one and migrates as the
 * migration one. Passwords are handed over as files (.stack/secrets), like compose's `*_FILE` variables.
 */
export function databaseEnvironment(service: string): Record<string, string> {
  const database = settings.databases.find((d) => d.service === service);
  if (!database) throw new Error(`no database for the service ${service} in settings.databases`);
  return {
    DB_NAME: database.name,
    DB_USER: database.runtime.user,
    DB_PASSWORD_FILE: accountPasswordFile(database.runtime),
    DB_MIGRATION_USER: database.migration.user,
    DB_MIGRATION_PASSWORD_FILE: accountPasswordFile(database.migration),
  };
}

/** One instance of a domain service as a stack component: `id` names it (and its pid and log files). */
export function serviceComponent(service: string, id: string, port: number): Component {
  const url = `http://${settings.host}:${port}`;
  return {
    name: id,
    url,
    startTimeoutMs: 90_000,
    isReady: () => answersAs(url, id),
    // The development signing key: the service verifies with its public half (the first service starts before the gateway).
    prepare: async () => {
      await ensureSigningKey();
    },
    launchSpec: () => ({
      command: process.execPath,
      args: [...extraOptions('STACK_NODE_OPTIONS'), join(settings.repoRoot, 'services', service, 'dist/src/main.js')],
      cwd: join(settings.repoRoot, 'services', service),
      env: {
        ...stackEnvironment(),
        ...databaseEnvironment(service),
        PORT: String(port),
        INSTANCE_ID: id,
        // Each service verifies the callers' bearer tokens itself, with the key the gateway verifies them with.
        JWT_PUBLIC_KEY_FILE: settings.publicKeyFile,
      },
    }),
  };
}

/**
 * Ready once it answers and routes to every instance this environment starts: it reads them from
 * Eureka, so a test that starts right after `up` never meets a gateway that knows only some of them.
 * `managementUrl` is its management server, whose /health has the details (the public one says UP only).
 */
async function gatewayRoutesToAll(managementUrl: string, expected: Record<string, number>): Promise<boolean> {
  try {
    const health = await httpJson<{ status?: string; instance?: string; instances?: Record<string, number> }>(`${managementUrl}/health`);
    if (health.status !== 'UP' || health.instance !== gatewayInstance) return false;
    return Object.entries(expected).every(([service, count]) => (health.instances?.[service] ?? 0) >= count);
  } catch {
    return false;
  }
}

const gatewayInstance = 'gateway-1';

/**
 * The config service, serving config-repo/ from this repository's Git history. It reads its own settings
 * from its files only (it does not ask itself), and starts before every service that asks it.
 */
export function configServerComponent(): Component {
  const url = `http://${settings.host}:${settings.ports.configServer}`;
  return {
    name: 'config-server',
    url: `${url}/{application}/{profile}[/{label}] (Spring Cloud Config API over config-repo/ in Git)`,
    startTimeoutMs: 30_000,
    isReady: async () => {
      try {
        const health = await httpJson<{ status?: string; version?: string }>(`${url}/health`);
        return health.status === 'UP' && typeof health.version === 'string';
      } catch {
        return false;
      }
    },
    launchSpec: () => ({
      command: process.execPath,
      args: [...extraOptions('STACK_NODE_OPTIONS'), join(settings.repoRoot, 'services/config-server/dist/src/main.js')],
      cwd: join(settings.repoRoot, 'services/config-server'),
      env: {
        ...stackEnvironment(),
        PORT: String(settings.ports.configServer),
        CONFIG_SERVER_URL: '',
        CONFIG_GIT_CLONE_DIR: join(settings.stateDir, 'config-server'),
      },
    }),
  };
}

/** The config service, every instance of the order, product and user services, then the gateway in front of them. */
export function serviceComponents(): Component[] {
  const components: Component[] = [configServerComponent()];
  const expected: Record<string, number> = {};
  for (const service of domainServices) {
    const list = instances(service);
    expected[service.name] = list.length;
    for (const instance of list) components.push(serviceComponent(service.name, instance.id, instance.port));
  }
  const gatewayUrl = `http://${settings.host}:${settings.ports.gateway}`;
  const gatewayManagementUrl = `http://${settings.host}:${settings.ports.gatewayManagement}`;
  components.push({
    name: 'gateway',
    url: `${gatewayUrl}/api (orders, products, users; instances found through Eureka)`,
    startTimeoutMs: 30_000,
    isReady: () => gatewayRoutesToAll(gatewayManagementUrl, expected),
    // The development signing key (git-ignored state folder): the gateway verifies with its public half.
    prepare: async () => {
      await ensureSigningKey();
    },
    launchSpec: () => ({
      command: process.execPath,
      args: [...extraOptions('STACK_NODE_OPTIONS'), join(settings.repoRoot, 'services/gateway/dist/src/main.js')],
      cwd: join(settings.repoRoot, 'services/gateway'),
      env: {
        ...stackEnvironment(),
        PORT: String(settings.ports.gateway),
        MANAGEMENT_PORT: String(settings.ports.gatewayManagement),
        INSTANCE_ID: gatewayInstance,
        JWT_PUBLIC_KEY_FILE: settings.publicKeyFile,
      },
    }),
  });
  return components;
}
