import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Component } from './component.js';
import { connectComponents } from './components/connect.js';
import { buildEurekaServer, eureka } from './components/eureka.js';
import { kafkaComponents } from './components/kafka.js';
import { fetchPrometheus, prometheus } from './components/prometheus.js';
import { mariadb } from './components/mariadb.js';
import { mysqldExporter } from './components/mysqld-exporter.js';
import { registry } from './components/registry.js';
import { serviceComponent, serviceComponents } from './components/services.js';
import { randomUUID } from 'node:crypto';
import {
  isAlive,
  launch,
  logFile,
  logTail,
  recordedNames,
  recordedOwner,
  recordedPid,
  stoppingProcesses,
  terminate,
  whileStopping,
} from './processes.js';
import { settings } from './settings.js';

/** The infrastructure, in start order: data path first, then the service registry (Eureka) and monitoring. */
const infrastructure: Component[] = [mariadb, ...kafkaComponents(), ...connectComponents(), registry, eureka, mysqldExporter, prometheus];

/** In start order; they stop in the reverse order. The infrastructure first, then the services. */
export const components: Component[] = [...infrastructure, ...serviceComponents()];

export class StackError extends Error {
  constructor(
    readonly component: string,
    message: string,
  ) {
    super(message);
  }
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;

/** Prints a line every 10 s while a step runs, so a slow cold start never looks hung. */
async function withProgress<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  console.log(`▶ ${label}`);
  const ticker = setInterval(() => console.log(`  … ${label} (${seconds(started)})`), 10_000);
  try {
    const result = await work();
    console.log(`✓ ${label} in ${seconds(started)}`);
    return result;
  } finally {
    clearInterval(ticker);
  }
}

/**
 * Fetches Kafka, the Debezium plugins and Apicurio through Maven (the machine's Maven settings apply),
 * once per version set: the unpacked result is keyed by the hash of compose/local/pom.xml.
 */
export async function fetchArtifacts(): Promise<void> {
  const pom = join(settings.repoRoot, 'compose/local/pom.xml');
  const digest = createHash('sha256').update(readFileSync(pom)).digest('hex');
  const marker = join(settings.distDir, '.fetched');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === digest) return;
  // A changed pom means other versions: start from an empty folder so no jar of the old set lingers on a
  // classpath (Maven's copy-dependencies adds, it never removes). Downloads stay cached in ~/.m2.
  rmSync(settings.distDir, { recursive: true, force: true });
  mkdirSync(settings.logDir, { recursive: true });
  await withProgress('fetch artifacts with Maven (Kafka, Debezium plugins, Apicurio Registry)', async () => {
    const log = createWriteStream(logFile('fetch'), { flags: 'a' });
    const code = await new Promise<number>((resolve, reject) => {
      const mvn = spawn('mvn', ['-B', '-ntp', '-f', pom, 'validate', `-Dstack.dist=${settings.distDir}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      mvn.stdout.pipe(log, { end: false });
      mvn.stderr.pipe(log, { end: false });
      mvn.once('error', (error) => reject(new StackError('fetch', `could not run mvn (${error.message}); install Maven`)));
      mvn.once('close', (status) => resolve(status ?? 1));
    });
    log.end();
    if (code !== 0) throw new StackError('fetch', `mvn exited with ${code}`);
  });
  writeFileSync(marker, digest);
}

/** Waits until a launched component answers; fails if its process exits first or it takes too long. */
export async function waitReady(component: Component, pid: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + component.startTimeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    if (await component.isReady()) return;
    if (!isAlive(pid)) throw new StackError(component.name, `${component.name} exited during start`);
    if (Date.now() > deadline) {
      throw new StackError(component.name, `${component.name} not ready after ${component.startTimeoutMs / 1000}s`);
    }
    await sleep(300);
  }
}

/**
 * Prepares a component and launches it, owned by `owner`; returns its pid. The one start path of `up`,
 * of the start API tests use, and of the supervisor's restarts.
 */
export async function launchComponent(component: Component, owner: string): Promise<number> {
  await component.prepare?.();
  return launch(component.name, component.launchSpec(), owner);
}

/** What an `up` started: its components, and the token its pid files carry. */
export interface Session {
  owner: string;
  started: string[];
}

/**
 * Starts every component that is not answering yet and provisions all of them. Returns the session:
 * the components this call started are, and only those, the caller's to stop.
 */
export async function up(): Promise<Session> {
  const owner = randomUUID();
  await fetchArtifacts();
  if (!(await eureka.isReady())) await withProgress('build the Eureka server (once per version)', buildEurekaServer);
  if (!(await prometheus.isReady())) await withProgress('fetch Prometheus (Debian package, once)', fetchPrometheus);
  await waitForStoppingSessions();
  const started: string[] = [];
  let current = 'stack';
  try {
    for (const group of startGroups(components)) {
      const toStart: Component[] = [];
      for (const component of group) {
        current = component.name;
        if (await component.isReady()) {
          console.log(`• ${component.name}: already up, reusing it`);
        } else {
          if (recordedPid(component.name) !== undefined) {
            // Started by the stack, but not answering (hung or half-started): replace it.
            await terminate(component.name, { graceMs: 10_000 });
          }
          toStart.push(component);
        }
      }
      if (toStart.length > 0) {
        current = toStart[0]!.name;
        await withProgress(`start ${toStart.map((c) => c.name).join(', ')}`, async () => {
          const launched: Array<[Component, number]> = [];
          for (const component of toStart) {
            launched.push([component, await launchComponent(component, owner)]);
            started.push(component.name);
          }
          await Promise.all(launched.map(([component, pid]) => waitReady(component, pid)));
        });
      }
      for (const component of group) {
        current = component.name;
        if (component.provision) await withProgress(`provision ${component.name}`, () => component.provision!());
      }
    }
  } catch (error) {
    const name = error instanceof StackError ? error.component : current;
    console.error(`\n✗ ${name} failed: ${(error as Error).message}`);
    console.error(`--- last lines of ${logFile(name)} ---\n${logTail(name)}\n---`);
    await down({ owner, started });
    throw error;
  }
  return { owner, started };
}

/** The components in start order, those of one `startGroup` (adjacent in the list) together. */
function startGroups(list: Component[]): Component[][] {
  const groups: Component[][] = [];
  for (const component of list) {
    const last = groups.at(-1);
    if (component.startGroup !== undefined && last?.[0]?.startGroup === component.startGroup) last.push(component);
    else groups.push([component]);
  }
  return groups;
}

/**
 * Stops a session's components in reverse start order, by their current pids: a component another
 * process restarted for this session (a test restarting the registry) is stopped too, one that another
 * session started under the same name is not.
 */
export async function down(session: Session): Promise<void> {
  await whileStopping(async () => {
    for (const group of startGroups(components).reverse()) {
      await stopTogether(
        group.map((c) => c.name).filter((name) => session.started.includes(name)),
        { owner: session.owner },
      );
    }
  });
}

/** Waits until no other session is in the middle of stopping components (at most 3 minutes). */
async function waitForStoppingSessions(): Promise<void> {
  let pids = stoppingProcesses();
  if (pids.length === 0) return;
  console.log(`… waiting for the stack that is stopping (pid ${pids.join(', ')}) to finish`);
  const deadline = Date.now() + 180_000;
  while (pids.length > 0) {
    if (Date.now() > deadline) throw new StackError('stack', `pid ${pids.join(', ')} is still stopping the stack after 3 minutes`);
    await sleep(250);
    pids = stoppingProcesses();
  }
}

/**
 * Stops everything the stack started, whatever this environment's instance counts and cluster size are:
 * every pid file in the run folder, services before the infrastructure they use, a Kafka cluster's nodes
 * (and Connect's workers) together even when this environment is not in cluster mode. This environment's components are
 * marked as stopped on purpose even when they are down already, so that the supervisor of the terminal
 * that started them does not bring one back after this stop.
 */
export async function downAll(): Promise<void> {
  const recorded = recordedNames();
  /** The other nodes of `first`'s cluster (kafka-2…, connect-2…) that have a pid file. */
  const moreNodes = (first: string) => recorded.filter((name) => new RegExp(`^${first}-\\d+$`).test(name));
  const groups = startGroups(infrastructure)
    .map((group) => group.map((c) => c.name))
    .map((names) => [...new Set([...names, ...names.flatMap((name) => (name === 'kafka' || name === 'connect' ? moreNodes(name) : []))])]);
  const infrastructureNames = groups.flat();
  const others = [...new Set([...recorded, ...components.map((c) => c.name)])].filter((name) => !infrastructureNames.includes(name));
  await whileStopping(async () => {
    for (const name of others) await stopTogether([name]);
    for (const names of groups.reverse()) await stopTogether(names);
  });
}

/**
 * Stops these components side by side. The nodes of a Kafka cluster go together: stopped one after
 * another, the last would find no quorum for its controlled shutdown and wait out the whole grace period.
 */
async function stopTogether(names: string[], options: { owner?: string } = {}): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      const since = Date.now();
      if (await terminate(name, options)) console.log(`■ stopped ${name} in ${seconds(since)}`);
    }),
  );
}

/**
 * Stops the named components (tests use it to take services away) and returns who owned them, for
 * `startComponents` to hand them back to. They are marked as stopped on purpose until they are started
 * again, so the supervisor leaves them down meanwhile.
 */
export async function stopComponents(names: string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>(names.map((name) => [name, recordedOwner(name) ?? 'manual']));
  await Promise.all(names.map((name) => terminate(name)));
  return owners;
}

/** Starts the named components again, side by side, owned by `owners` (default: nobody's session), and waits for each. */
export async function startComponents(names: string[], owners = new Map<string, string>()): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      const component = componentNamed(name);
      await waitReady(component, await launchComponent(component, owners.get(name) ?? 'manual'));
    }),
  );
}

/** Stops and starts one component, waiting until it answers again (used by the registry-restart test). */
export async function restart(name: string): Promise<void> {
  const component = componentNamed(name);
  await startComponents([name], await stopComponents([name]));
  await component.provision?.();
}

function componentNamed(name: string): Component {
  const component = components.find((c) => c.name === name);
  if (!component) throw new Error(`unknown component ${name}; known: ${components.map((c) => c.name).join(', ')}`);
  return component;
}

/**
 * Starts one more instance of a domain service on `port`, beside those of the configuration (what a
 * person does by hand to scale out), waits until it is UP and returns its pid; `env` adds to or
 * overrides the stack's environment for it. Stop it with `stopComponents([id])`.
 */
export async function startExtraInstance(
  service: 'order' | 'product' | 'user',
  id: string,
  port: number,
  env: Record<string, string> = {},
): Promise<number> {
  const component = serviceComponent(service, id, port);
  const spec = component.launchSpec();
  const pid = launch(id, { ...spec, env: { ...spec.env, ...env } }, 'manual');
  await waitReady(component, pid);
  return pid;
}

/** Names of the running domain service instances (order-1, product-1, …). */
export function serviceInstanceNames(): string[] {
  return Object.keys(serviceInstanceUrls());
}

/** The base URL of each domain service instance this environment starts, by name. */
export function serviceInstanceUrls(): Record<string, string> {
  return Object.fromEntries(
    serviceComponents()
      .filter((c) => c.name !== 'gateway' && c.name !== 'config-server')
      .map((c) => [c.name, c.url]),
  );
}

export function urls(): string[] {
  return components.map((c) => `  ${c.name.padEnd(10)} ${c.url}`);
}
