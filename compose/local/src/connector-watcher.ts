import { connectFetch, connectorFiles, firstLine, isRunning, type ConnectApi, type ConnectorStatus } from './connectors.js';
import { RestartSeries } from './restart-policy.js';
import { clearRestarts, connectorKey, updateRestarts } from './restarts.js';
import { secondsSince, type WatchContext } from './watch-context.js';

interface WatchedConnector {
  series: RestartSeries;
  /** A restart is waiting for its delay or under way: its status says nothing new until then. */
  restarting: boolean;
  /** When its current run of failures began, for the "RUNNING again after" line. */
  failedSince: number | undefined;
  gaveUp: boolean;
}

/**
 * The supervisor's watch over Kafka Connect's connectors: a FAILED connector or task is restarted through
 * Connect's REST API (its failed parts only) after the policy's delay; after the policy's last restart
 * fails it gives up loudly, and watches that connector again once someone has brought it back by hand.
 * Each restart is recorded for `status`.
 */
export class ConnectorWatcher {
  private readonly connectors = new Map<string, WatchedConnector>();
  /** The worker whose REST API answered last: asked first, and the one restarts go to. */
  private answering = 0;

  /**
   * @param apis Every worker's REST API: any worker answers for the group, so while one is down another is asked.
   * @param connectAway Whether Connect's own process is not plainly running now (dead, being restarted, stopped):
   *   its connectors' states mean nothing then, and its process is what matters.
   */
  constructor(
    private readonly context: WatchContext,
    private readonly apis: ConnectApi[],
    private readonly pollMs: number,
    private readonly connectAway: () => boolean,
  ) {}

  /**
   * Clears the records of the stack's connectors (they begin anew; at once, before this returns), then
   * asks Connect every `pollMs` until the supervisor stops.
   */
  run(): Promise<void> {
    clearRestarts(connectorFiles().map((file) => connectorKey(file.name)));
    return this.watch();
  }

  private get stopped(): boolean {
    return this.context.signal.aborted;
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      await this.context.pause(this.pollMs);
      if (this.stopped || this.connectAway()) continue;
      const statuses = await this.connectorStatuses();
      for (const [name, status] of Object.entries(statuses ?? {})) this.look(name, status);
    }
  }

  private get api(): ConnectApi {
    return this.apis[this.answering]!;
  }

  /**
   * Every connector's status in one request, or undefined when no worker answers: the worker that answered
   * last is asked first, then the others in turn.
   */
  private async connectorStatuses(): Promise<Record<string, ConnectorStatus> | undefined> {
    for (let tried = 0; tried < this.apis.length; tried++) {
      const index = (this.answering + tried) % this.apis.length;
      try {
        const response = await connectFetch(this.apis[index]!, '/connectors?expand=status', {
          signal: AbortSignal.any([AbortSignal.timeout(5000), this.context.signal]),
        });
        if (!response.ok) continue;
        const body = (await response.json()) as Record<string, { status: ConnectorStatus }>;
        this.answering = index;
        return Object.fromEntries(Object.entries(body).map(([name, entry]) => [name, entry.status]));
      } catch {
        // Down, or not answering in time: the next worker.
      }
    }
    return undefined;
  }

  private connector(name: string): WatchedConnector {
    let watched = this.connectors.get(name);
    if (watched === undefined) {
      watched = { series: new RestartSeries(Date.now(), this.context.policy), restarting: false, failedSince: undefined, gaveUp: false };
      this.connectors.set(name, watched);
    }
    return watched;
  }

  /** One look at one connector's status: running (perhaps again), FAILED and to be restarted, or given up on. */
  private look(name: string, status: ConnectorStatus): void {
    const { log, policy } = this.context;
    const watched = this.connector(name);
    if (watched.restarting) return;
    const failed = [
      ...(status.connector.state === 'FAILED' ? [{ part: 'connector', trace: status.connector.trace }] : []),
      ...status.tasks.filter((task) => task.state === 'FAILED').map((task) => ({ part: `task ${task.id}`, trace: task.trace })),
    ];
    if (failed.length === 0) {
      if (watched.failedSince !== undefined && isRunning(status)) {
        log(`✓ connector ${name} RUNNING again after ${secondsSince(watched.failedSince)}`);
        watched.failedSince = undefined;
        updateRestarts(connectorKey(name), (record) => {
          record.lastBackAt = new Date().toISOString();
        });
        if (watched.gaveUp) {
          // Restarted by hand after the supervisor gave up: watched again from here.
          watched.gaveUp = false;
          watched.series = new RestartSeries(Date.now(), policy);
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
      const restart = `curl -u ${this.api.username} -X POST '${this.api.url}/connectors/${name}/restart?includeTasks=true&onlyFailed=true'`;
      log(
        [
          `✗ connector ${name}: ${cause}; ${decision.failedRestarts} restarts in a row did not last ${policy.stableAfterMs / 1000}s.`,
          `✗ GIVING UP on connector ${name}: its database's events stay unpublished until it is fixed and restarted (${restart})`,
        ].join('\n'),
      );
      return;
    }
    log(`✗ connector ${name}: ${cause} — restarting in ${decision.delayMs / 1000}s (restart ${decision.attempt})`);
    watched.restarting = true;
    this.context.track(this.restart(name, watched, decision.delayMs));
  }

  /** Restarts a connector's failed parts (Kafka Connect 3.0+: the connector and/or only its FAILED tasks). */
  private async restart(name: string, watched: WatchedConnector, delayMs: number): Promise<void> {
    try {
      await this.context.pause(delayMs);
      if (this.stopped) return;
      const path = `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`;
      const signal = AbortSignal.any([AbortSignal.timeout(15_000), this.context.signal]);
      const response = await connectFetch(this.api, path, { method: 'POST', signal });
      if (!response.ok) {
        throw new Error(`POST ${this.api.url}${path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
      }
      updateRestarts(connectorKey(name), (record) => {
        record.restarts += 1;
      });
    } catch (error) {
      // Counted as a restart that did not last: the next look finds it FAILED and the series goes on.
      if (!this.stopped) this.context.log(`✗ connector ${name}: the restart request failed (${(error as Error).message})`);
    } finally {
      watched.series.restarted(Date.now());
      watched.restarting = false;
    }
  }
}
