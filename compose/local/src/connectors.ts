import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpJson } from './component.js';
import { stackSecret } from './secrets.js';
import { connectWorkers, httpUsers, settings, type ConnectWorker } from './settings.js';

/**
 * Kafka Connect's REST API: where it is and its HTTP basic user (BasicAuthSecurityRestExtension refuses
 * every request without them with 401, but for the workers' own signed task-config requests).
 */
export interface ConnectApi {
  url: string;
  username: string;
  password: string;
}

/** The native stack's Connect, as its user `connect` with the secret `connect-rest`. */
export function stackConnectApi(): ConnectApi {
  return {
    url: `http://${settings.host}:${settings.ports.connect}`,
    username: httpUsers.connect,
    password: stackSecret(settings.stateDir, 'connect-rest'),
  };
}

/** Every worker of the native stack's Connect (one, or STACK_CONNECT_WORKERS), as the same user. */
export function stackConnectApis(): ConnectApi[] {
  return connectWorkers().map(workerConnectApi);
}

/** Where one worker's REST API listens (no secret read: safe when the stack's modules load). */
export const workerUrl = (worker: ConnectWorker): string => `http://${settings.host}:${worker.port}`;

/** One worker's REST API, as the stack's user. */
export function workerConnectApi(worker: ConnectWorker): ConnectApi {
  return { ...stackConnectApi(), url: workerUrl(worker) };
}

/**
 * Connect as the environment names it, the way `npm test` passes it: KAFKA_CONNECT_URL,
 * KAFKA_CONNECT_USERNAME and KAFKA_CONNECT_PASSWORD or KAFKA_CONNECT_PASSWORD_FILE; the native stack's
 * for whatever is not set.
 */
export function connectApiFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectApi {
  const file = env.KAFKA_CONNECT_PASSWORD_FILE;
  return {
    url: (env.KAFKA_CONNECT_URL || `http://${settings.host}:${settings.ports.connect}`).replace(/\/+$/, ''),
    username: env.KAFKA_CONNECT_USERNAME || httpUsers.connect,
    password: env.KAFKA_CONNECT_PASSWORD || (file ? readFileSync(file, 'utf8').trim() : stackSecret(settings.stateDir, 'connect-rest')),
  };
}

/** The `Authorization` header for `api`'s user. */
export function connectAuthorization(api: ConnectApi): string {
  return `Basic ${Buffer.from(`${api.username}:${api.password}`, 'utf8').toString('base64')}`;
}

/** A request to Connect's REST API with its credentials; `path` starts with a slash. */
export function connectFetch(api: ConnectApi, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', connectAuthorization(api));
  return fetch(`${api.url}${path}`, { ...init, headers });
}

/** Like `httpJson`, against Connect's REST API with its credentials. */
function connectJson<T>(api: ConnectApi, path: string, init: RequestInit = {}): Promise<T> {
  return httpJson<T>(`${api.url}${path}`, { ...init, headers: { ...init.headers, authorization: connectAuthorization(api) } });
}

export interface ConnectorStatus {
  name: string;
  connector: { state: string; trace?: string };
  tasks: Array<{ id: number; state: string; trace?: string }>;
}

/** The connector configs in connectors/: the file name (without .json) is the connector's name. */
export function connectorFiles(): Array<{ name: string; config: Record<string, string> }> {
  return readdirSync(settings.connectorsDir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({
      name: basename(file, '.json'),
      config: JSON.parse(readFileSync(join(settings.connectorsDir, file), 'utf8')) as Record<string, string>,
    }));
}

export async function connectorStatus(api: ConnectApi, name: string): Promise<ConnectorStatus> {
  return connectJson<ConnectorStatus>(api, `/connectors/${encodeURIComponent(name)}/status`);
}

/** The connector and every one of its tasks RUNNING. */
export function isRunning(status: ConnectorStatus): boolean {
  return status.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((task) => task.state === 'RUNNING');
}

/**
 * Registers every connector in connectors/ with PUT /connectors/<name>/config (creates or updates, so
 * running it again changes nothing) and deletes any connector Connect runs that has no file there (one
 * whose file was removed since, whose offsets and binlog connection would otherwise live on), then waits
 * until each connector and all its tasks are RUNNING and Debezium streams the binlog for each
 * (`waitUntilStreaming`): only then may a service write an outbox row.
 *
 * A FAILED connector or task is restarted (its failed parts only), up to twice: the state may be stale,
 * read back from Connect's status topic after a run that lost its database, or the failure transient. A
 * third failure ends the wait with Connect's stack trace.
 */
export async function registerConnectors(api: ConnectApi, metricsUrls: string[], timeoutMs = 90_000): Promise<void> {
  const files = connectorFiles();
  const wanted = new Set(files.map((file) => file.name));
  for (const name of await connectJson<string[]>(api, '/connectors')) {
    if (!wanted.has(name)) await connectJson(api, `/connectors/${encodeURIComponent(name)}`, { method: 'DELETE' });
  }
  for (const { name, config } of files) {
    await connectJson(api, `/connectors/${encodeURIComponent(name)}/config`, {
      method: 'PUT',
      body: JSON.stringify(config),
    });
  }
  const deadline = Date.now() + timeoutMs;
  await waitUntilRunning(
    api,
    files.map((file) => file.name),
    deadline,
  );
  await waitUntilStreaming(metricsUrls, files.map(debeziumServer), deadline);
}

/** The name Debezium's metrics give a connector: its topic.prefix. */
function debeziumServer({ name, config }: { name: string; config: Record<string, string> }): string {
  const prefix = config['topic.prefix'];
  if (!prefix) throw new Error(`connectors/${name}.json has no topic.prefix`);
  return prefix;
}

async function waitUntilRunning(api: ConnectApi, names: string[], deadline: number): Promise<void> {
  for (const name of names) {
    let restarts = 0;
    for (;;) {
      let status: ConnectorStatus | undefined;
      try {
        status = await connectorStatus(api, name);
      } catch {
        // 404 until the worker has picked the new config up from its config topic.
      }
      if (status && isRunning(status)) break;
      const failed = status && [status.connector, ...status.tasks].find((s) => s.state === 'FAILED');
      if (failed && restarts >= 2) throw new Error(`connector ${name} FAILED:\n${failed.trace ?? '(no trace)'}`);
      if (failed) {
        restarts++;
        console.log(`  … connector ${name} is FAILED (${firstLine(failed.trace)}); restarting it (${restarts}/2)`);
        await connectJson(api, `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`, {
          method: 'POST',
        });
        await sleep(1000);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`connector ${name} not RUNNING in time: ${JSON.stringify(status)}`);
      await sleep(250);
    }
  }
}

/**
 * Waits until Debezium's binlog client is connected for every connector (`servers`: their topic.prefix),
 * as its streaming metric `Connected` says, read from the JMX exporter agents of Connect's workers (`metricsUrls`).
 *
 * Why RUNNING is not enough: Connect reports a task RUNNING once its start() has returned, and Debezium's
 * start() hands the snapshot and the streaming to a thread of its own. On a connector's very first start
 * (no stored offset) snapshot.mode=no_data takes the binlog position current when that thread gets to it
 * and streams from there, so an outbox row committed between RUNNING and that moment would never be
 * published. The binlog client connects from the position the snapshot took, so once it is connected
 * that position is fixed and lies before anything committed afterwards: a service started after this
 * wait cannot write an event its connector misses. A connector that has stored an offset resumes from it
 * and is connected again within moments; the wait then costs a scrape or two.
 */
export async function waitUntilStreaming(metricsUrls: string[], servers: string[], deadline: number): Promise<void> {
  for (;;) {
    // A task runs on one worker of the group, whichever the rebalance chose: any worker's agent may report it.
    const connected = new Set<string>();
    for (const metricsUrl of metricsUrls) {
      try {
        const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
        if (response.ok) for (const server of streamingServers(await response.text())) connected.add(server);
      } catch {
        // The agent answers once that worker's JVM is up; until then, nothing is connected there.
      }
    }
    const missing = servers.filter((server) => !connected.has(server));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Debezium not streaming the binlog in time for ${missing.join(', ')} (Connected metric at ${metricsUrls.join(', ')})`,
      );
    }
    await sleep(250);
  }
}

/**
 * The Debezium servers (topic.prefix) whose streaming binlog client is connected, from the JMX exporter's
 * text: `debezium_<connector>_connector_metrics_connected{context="streaming",server="order-db",…} 1.0`.
 */
export function streamingServers(metrics: string): Set<string> {
  const connected = new Set<string>();
  for (const line of metrics.split('\n')) {
    const match = /^debezium_\w+?_connector_metrics_connected\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!match || Number(match[2]) !== 1) continue;
    const labels = new Map([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((label) => [label[1]!, label[2]!]));
    const server = labels.get('server');
    if (labels.get('context') === 'streaming' && server !== undefined) connected.add(server);
  }
  return connected;
}

export function firstLine(trace: string | undefined): string {
  return (trace ?? 'no trace').split('\n')[0]!.slice(0, 200);
}
