import { appendFileSync, mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Component } from './component.js';
import { connectFetch, connectorFiles, firstLine, isRunning, type ConnectApi, type ConnectorStatus } from './connectors.js';
import { exitCause, isAlive, logFile, logTail, markedStopped, recordOf, stoppingProcesses } from './processes.js';
import { RestartSeries, defaultRestartPolicy, type RestartPolicy } from './restart-policy.js';
import { clearRestarts, connectorKey, updateRestarts } from './restarts.js';
import { settings } from './settings.js';
import { launchComponent, waitReady } from './stack.js';

export interface SupervisorOptions {
  /** The session whose components these are: the supervisor restarts only what that session owns. */
  owner: string;
  components: Component[];
  /** Kafka Connect's REST API and its user, when this session's connectors are to be watched as well. */
  connect?: ConnectApi;
  policy?: RestartPolicy;
  /** How often each component's process is looked at. */
  pollMs?: number;
  /** How often Connect is asked for its connectors' states. */
  connectorPollMs?: number;
  /** Where its lines go; by default the console and `.stack/logs/supervisor.log`. */
  log?: (line: string) => void;
}

/**
 * watching: running (or found dead by the next look); restarting: being brought back; stopped: stopped
 * on purpose, watched again once it runs; handed-over: started again by another session, which watches
 * it now; given-up: left down after the last restart the policy allows.
 */
type State = 'watching' | 'restarting' | 'stopped' | 'handed-over' | 'given-up';

interface Watched {
  component: Component;
  series: RestartSeries;
  state: State;
  /** The pid last seen running: how it ended is only known by pid. */
  pid: number | undefined;
}

interface WatchedConnector {
  series: RestartSeries;
  /** A restart is waiting for its delay or under way: its status says nothing new until then. */
  restarting: boolean;
  /** When its current run of failures began, for the "RUNNING again after" line. */
  failedSince: number | undefined;
  gaveUp: boolean;
}

const secondsSince = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;

/** The supervisor's lines: on the console, and with a time in the stack's supervisor log. */
function consoleAndFile(line: string): void {
  (line.startsWith('✗') ? console.error : console.log)(line);
  try {
    mkdirSync(settings.logDir, { recursive: true });
    appendFileSync(logFile('supervisor'), `${new Date().toISOString()} ${line}\n`);
  } catch {
    // A missing log never stops a restart.
  }
}

/**
 * Keeps one session's components running, like compose's `restart: unless-stopped`: a component whose
 * process dies is launched again (the same start path as `up`) after the policy's delay, until it
 * answers again; a FAILED connector or task is restarted through Connect's REST API. After the policy's
 * last restart fails it gives up loudly and leaves that one down. Each restart is recorded for `status`.
 *
 * It never restarts what someone stopped on purpose (`markedStopped`: `npm stop`, Ctrl-C, a test's
 * stopComponents, until the component is started again), anything while another process is stopping
 * components (`npm stop` in another terminal), or a component another session has started since.
 * Provisioning is not repeated: what it made (databases, grants, connectors, the registry's rule) is kept
 * in the component's data, which outlives its process.
 */
export class Supervisor {
  private readonly abort = new AbortController();
  private readonly tasks = new Set<Promise<void>>();
  private readonly watched: Watched[];
  private readonly connectors = new Map<string, WatchedConnector>();
  private readonly policy: RestartPolicy;
  private readonly log: (line: string) => void;

  constructor(private readonly options: SupervisorOptions) {
    this.policy = options.policy ?? defaultRestartPolicy;
    this.log = options.log ?? consoleAndFile;
    const now = Date.now();
    this.watched = options.components.map((component) => ({
      component,
      series: new RestartSeries(now, this.policy),
      state: 'watching',
      pid: recordOf(component.name)?.pid,
    }));
  }

  /** Starts watching; the records of what it watches begin anew. */
  start(): void {
    clearRestarts(this.watched.map((watched) => watched.component.name));
    this.track(this.watchProcesses());
    if (this.options.connect !== undefined) {
      clearRestarts(connectorFiles().map((file) => connectorKey(file.name)));
      this.track(this.watchConnectors(this.options.connect));
    }
  }

  /** Stops watching and waits for a restart under way to give up its wait (Ctrl-C comes next: `down`). */
  async stop(): Promise<void> {
    this.abort.abort();
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private track(task: Promise<void>): void {
    const tracked = task.catch((error: unknown) => this.log(`✗ supervisor: ${(error as Error).message}`));
    this.tasks.add(tracked);
    void tracked.finally(() => this.tasks.delete(tracked));
  }

  /** Sleeps `ms`, less if the supervisor stops meanwhile. */
  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }

  private async watchProcesses(): Promise<void> {
    const pollMs = this.options.pollMs ?? 500;
    while (!this.stopped) {
      for (const watched of this.watched) this.look(watched);
      await this.pause(pollMs);
    }
  }

  /** One look at one component: still running, stopped on purpose, taken over, or dead. */
  private look(watched: Watched): void {
    if (watched.state !== 'watching' && watched.state !== 'stopped') return;
    const { name } = watched.component;
    const record = recordOf(name);
    if (record !== undefined) {
      if (record.owner !== this.options.owner) {
        watched.state = 'handed-over';
        this.log(`• ${name} was started again by another session (pid ${record.pid}); that one watches it now`);
      } else if (watched.state === 'stopped') {
        watched.state = 'watching';
        watched.series = new RestartSeries(Date.now(), this.policy);
        this.log(`• ${name} is running again (pid ${record.pid}); watching it`);
      }
      watched.pid = record.pid;
      return;
    }
    if (watched.state === 'stopped') return;
    if (markedStopped(name)) {
      watched.state = 'stopped';
      this.log(`■ ${name} was stopped on purpose; not restarting it`);
      return;
    }
    // Someone is stopping components (`npm stop`): each is marked before it is signalled, so wait and see.
    if (stoppingProcesses().length > 0) return;
    watched.state = 'restarting';
    this.track(this.recover(watched));
  }

  /** Brings a dead component back: waits as the policy says, launches it and waits until it answers; again if that fails. */
  private async recover(watched: Watched): Promise<void> {
    const { component } = watched;
    const { name } = component;
    const downSince = Date.now();
    let cause = `exited (${await this.exitStatus(watched.pid)})`;
    for (;;) {
      const decision = watched.series.failed(Date.now());
      updateRestarts(name, (record) => {
        record.lastFailureAt = new Date().toISOString();
        record.lastCause = cause;
      });
      if (!decision.restart) return this.giveUp(watched, cause, decision.failedRestarts);
      this.log(`✗ ${name} ${cause} — restarting in ${decision.delayMs / 1000}s (restart ${decision.attempt})`);
      await this.pause(decision.delayMs);
      if (!(await this.stillDead(watched))) return;
      let pid: number;
      try {
        pid = await launchComponent(component, this.options.owner);
      } catch (error) {
        cause = `could not be started (${(error as Error).message})`;
        continue;
      }
      watched.pid = pid;
      updateRestarts(name, (record) => {
        record.restarts += 1;
      });
      try {
        await waitReady(component, pid, this.abort.signal);
        updateRestarts(name, (record) => {
          record.lastBackAt = new Date().toISOString();
        });
        this.log(`✓ ${name} back after ${secondsSince(downSince)}`);
      } catch {
        if (this.stopped) return;
        if (!isAlive(pid)) {
          // Stopped on purpose while starting (`npm stop`), or it failed again.
          if (!(await this.stillDead(watched))) return;
          cause = `exited while restarting (${await this.exitStatus(pid)})`;
          continue;
        }
        // Running but not answering yet (a dependency may be down too): its process is watched from here on.
        const timeout = `${component.startTimeoutMs / 1000}s`;
        this.log(`✗ ${name} restarted (pid ${pid}) but not answering after ${timeout}; watching its process`);
      }
      watched.series.restarted(Date.now());
      watched.state = 'watching';
      return;
    }
  }

  /**
   * Whether a component is still down and nobody means it to be: waits while another process stops
   * components. If not, it goes back to plain watching, and the next look sorts out why.
   */
  private async stillDead(watched: Watched): Promise<boolean> {
    while (!this.stopped && stoppingProcesses().length > 0) await this.pause(this.options.pollMs ?? 500);
    if (this.stopped) return false;
    const { name } = watched.component;
    if (recordOf(name) === undefined && !markedStopped(name)) return true;
    watched.state = 'watching';
    return false;
  }

  /** "code 1", "signal SIGKILL"; only the process that launched it knows. */
  private async exitStatus(pid: number | undefined): Promise<string> {
    const status = pid === undefined ? undefined : await exitCause(pid);
    return status ?? 'exit status unknown: another process started it';
  }

  private giveUp(watched: Watched, cause: string, failedRestarts: number): void {
    const { name } = watched.component;
    watched.state = 'given-up';
    updateRestarts(name, (record) => {
      record.gaveUp = true;
    });
    this.log(
      [
        `✗ ${name} ${cause}: ${failedRestarts} restarts in a row did not last ${this.policy.stableAfterMs / 1000}s.`,
        `✗ GIVING UP on ${name}: it stays down (npm run status shows it). Last lines of ${logFile(name)}:`,
        logTail(name, 20),
      ].join('\n'),
    );
  }

  private async watchConnectors(api: ConnectApi): Promise<void> {
    const pollMs = this.options.connectorPollMs ?? 5000;
    while (!this.stopped) {
      await this.pause(pollMs);
      // While Connect itself is down or being restarted, its process is what matters.
      const connect = this.watched.find((watched) => watched.component.name === 'connect');
      if (this.stopped || (connect !== undefined && connect.state !== 'watching')) continue;
      const statuses = await this.connectorStatuses(api);
      for (const [name, status] of Object.entries(statuses ?? {})) this.lookAtConnector(api, name, status);
    }
  }

  /** Every connector's status in one request, or undefined when Connect does not answer. */
  private async connectorStatuses(api: ConnectApi): Promise<Record<string, ConnectorStatus> | undefined> {
    try {
      const response = await connectFetch(api, '/connectors?expand=status', {
        signal: AbortSignal.any([AbortSignal.timeout(5000), this.abort.signal]),
      });
      if (!response.ok) return undefined;
      const body = (await response.json()) as Record<string, { status: ConnectorStatus }>;
      return Object.fromEntries(Object.entries(body).map(([name, entry]) => [name, entry.status]));
    } catch {
      return undefined;
    }
  }

  private connector(name: string): WatchedConnector {
    let watched = this.connectors.get(name);
    if (watched === undefined) {
      watched = { series: new RestartSeries(Date.now(), this.policy), restarting: false, failedSince: undefined, gaveUp: false };
      this.connectors.set(name, watched);
    }
    return watched;
  }

  private lookAtConnector(api: ConnectApi, name: string, status: ConnectorStatus): void {
    const watched = this.connector(name);
    if (watched.restarting) return;
    const failed = [
      ...(status.connector.state === 'FAILED' ? [{ part: 'connector', trace: status.connector.trace }] : []),
      ...status.tasks.filter((task) => task.state === 'FAILED').map((task) => ({ part: `task ${task.id}`, trace: task.trace })),
    ];
    if (failed.length === 0) {
      if (watched.failedSince !== undefined && isRunning(status)) {
        this.log(`✓ connector ${name} RUNNING again after ${secondsSince(watched.failedSince)}`);
        watched.failedSince = undefined;
        updateRestarts(connectorKey(name), (record) => {
          record.lastBackAt = new Date().toISOString();
        });
        if (watched.gaveUp) {
          // Restarted by hand after the supervisor gave up: watched again from here.
          watched.gaveUp = false;
          watched.series = new RestartSeries(Date.now(), this.policy);
          updateRestarts(connectorKey(name), (record) => {
            record.gaveUp = false;
          });
        }
      }
      return;
    }
    if (watched.gaveUp) return;
    const cause = `${failed.map((f) => f.part).join(', ')} FAILED (${firstLine(failed[0]!.trace)})`;
    watched.failedSince ??= Date.now();
    const decision = watched.series.failed(Date.now());
    updateRestarts(connectorKey(name), (record) => {
      record.lastFailureAt = new Date().toISOString();
      record.lastCause = cause;
      record.gaveUp = !decision.restart;
    });
    if (!decision.restart) {
      watched.gaveUp = true;
      // curl asks for the password (the stack's is in .stack/secrets/connect-rest); it is never printed.
      const restart = `curl -u ${api.username} -X POST '${api.url}/connectors/${name}/restart?includeTasks=true&onlyFailed=true'`;
      this.log(
        [
          `✗ connector ${name}: ${cause}; ${decision.failedRestarts} restarts in a row did not last ${this.policy.stableAfterMs / 1000}s.`,
          `✗ GIVING UP on connector ${name}: its database's events stay unpublished until it is fixed and restarted (${restart})`,
        ].join('\n'),
      );
      return;
    }
    this.log(`✗ connector ${name}: ${cause} — restarting in ${decision.delayMs / 1000}s (restart ${decision.attempt})`);
    watched.restarting = true;
    this.track(this.restartConnector(api, name, watched, decision.delayMs));
  }

  /** Restarts a connector's failed parts (Kafka Connect 3.0+: the connector and/or only its FAILED tasks). */
  private async restartConnector(api: ConnectApi, name: string, watched: WatchedConnector, delayMs: number): Promise<void> {
    try {
      await this.pause(delayMs);
      if (this.stopped) return;
      const path = `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`;
      const response = await connectFetch(api, path, { method: 'POST', signal: AbortSignal.any([AbortSignal.timeout(15_000), this.abort.signal]) });
      if (!response.ok) throw new Error(`POST ${api.url}${path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
      updateRestarts(connectorKey(name), (record) => {
        record.restarts += 1;
      });
    } catch (error) {
      // Counted as a restart that did not last: the next look finds it FAILED and the series goes on.
      if (!this.stopped) this.log(`✗ connector ${name}: the restart request failed (${(error as Error).message})`);
    } finally {
      watched.series.restarted(Date.now());
      watched.restarting = false;
    }
  }
}
