import { appendFileSync, mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Component } from './component.js';
import { ConnectorWatcher } from './connector-watcher.js';
import type { ConnectApi } from './connectors.js';
import { ProcessWatcher } from './process-watcher.js';
import { logFile } from './processes.js';
import { defaultRestartPolicy, type RestartPolicy } from './restart-policy.js';
import { settings } from './settings.js';
import type { WatchContext } from './watch-context.js';

export interface SupervisorOptions {
  /** The session whose components these are: the supervisor restarts only what that session owns. */
  owner: string;
  components: Component[];
  /**
   * Kafka Connect's REST API and its user, when this session's connectors are to be watched as well: one
   * per worker of the group (`connectWorkers` names their components), any of which answers for all.
   */
  connect?: ConnectApi | ConnectApi[];
  connectWorkers?: string[];
  policy?: RestartPolicy;
  /** How often each component's process is looked at. */
  pollMs?: number;
  /** How often Connect is asked for its connectors' states. */
  connectorPollMs?: number;
  /** Where its lines go; by default the console and `.stack/logs/supervisor.log`. */
  log?: (line: string) => void;
}

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
 *
 * The processes are watched by a `ProcessWatcher`, the connectors by a `ConnectorWatcher`; this class
 * starts them, stops them together, and keeps the connector watch quiet while Connect's own process is
 * not plainly running.
 */
export class Supervisor {
  private readonly abort = new AbortController();
  private readonly tasks = new Set<Promise<void>>();
  private readonly context: WatchContext;
  private readonly processes: ProcessWatcher;
  private readonly connectors: ConnectorWatcher | undefined;

  constructor(options: SupervisorOptions) {
    const { signal } = this.abort;
    this.context = {
      owner: options.owner,
      policy: options.policy ?? defaultRestartPolicy,
      log: options.log ?? consoleAndFile,
      signal,
      pause: async (ms) => {
        await sleep(ms, undefined, { signal }).catch(() => undefined);
      },
      track: (task) => this.track(task),
    };
    this.processes = new ProcessWatcher(this.context, options.components, options.pollMs ?? 500);
    // While every worker of Connect is down or being restarted, their processes are what matters.
    const workers = options.connectWorkers ?? ['connect'];
    const connectAway = () =>
      workers.every((name) => {
        const state = this.processes.stateOf(name);
        return state !== undefined && state !== 'watching';
      });
    this.connectors =
      options.connect === undefined
        ? undefined
        : new ConnectorWatcher(this.context, [options.connect].flat(), options.connectorPollMs ?? 5000, connectAway);
  }

  /** Starts watching; the records of what it watches begin anew. */
  start(): void {
    this.context.track(this.processes.run());
    if (this.connectors !== undefined) this.context.track(this.connectors.run());
  }

  /** Stops watching and waits for a restart under way to give up its wait (Ctrl-C comes next: `down`). */
  async stop(): Promise<void> {
    this.abort.abort();
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }

  private track(task: Promise<void>): void {
    const tracked = task.catch((error: unknown) => this.context.log(`✗ supervisor: ${(error as Error).message}`));
    this.tasks.add(tracked);
    void tracked.finally(() => this.tasks.delete(tracked));
  }
}
