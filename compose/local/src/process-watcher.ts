import type { Component } from './component.js';
import { exitCause, isAlive, logFile, logTail, markedStopped, recordOf, stoppingProcesses } from './processes.js';
import { RestartSeries } from './restart-policy.js';
import { clearRestarts, updateRestarts } from './restarts.js';
import { launchComponent, waitReady } from './stack.js';
import { secondsSince, type WatchContext } from './watch-context.js';

/**
 * watching: running (or found dead by the next look); restarting: being brought back; stopped: stopped
 * on purpose, watched again once it runs; handed-over: started again by another session, which watches
 * it now; given-up: left down after the last restart the policy allows.
 */
export type WatchState = 'watching' | 'restarting' | 'stopped' | 'handed-over' | 'given-up';

interface Watched {
  component: Component;
  series: RestartSeries;
  state: WatchState;
  /** The pid last seen running: how it ended is only known by pid. */
  pid: number | undefined;
  /** The message of the last look that failed, until one succeeds. */
  lookFailure?: string;
}

/**
 * The supervisor's watch over the processes of one session's components: a component whose process dies
 * is launched again (the same start path as `up`) after the policy's delay, until it answers again; after
 * the policy's last restart fails it gives up loudly and leaves that one down. It never restarts what was
 * stopped on purpose (`markedStopped`), anything while another process is stopping components, or a
 * component another session has started since. Each restart is recorded for `status`.
 */
export class ProcessWatcher {
  private readonly watched: Watched[];

  /** Takes each component's pid as it is now: a process that dies after this is known by it. */
  constructor(
    private readonly context: WatchContext,
    components: readonly Component[],
    private readonly pollMs: number,
  ) {
    const now = Date.now();
    this.watched = components.map((component) => ({
      component,
      series: new RestartSeries(now, context.policy),
      state: 'watching',
      pid: recordOf(component.name)?.pid,
    }));
  }

  /**
   * Clears the records of what it watches (they begin anew; at once, before this returns), then looks at
   * each process every `pollMs` until the supervisor stops.
   */
  run(): Promise<void> {
    clearRestarts(this.watched.map((watched) => watched.component.name));
    return this.watch();
  }

  /** Where the watch over `name` stands, or undefined when it is not one of the watched components. */
  stateOf(name: string): WatchState | undefined {
    return this.watched.find((watched) => watched.component.name === name)?.state;
  }

  private get stopped(): boolean {
    return this.context.signal.aborted;
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      for (const watched of this.watched) {
        // One look that fails (a file another process changed under it) must not end the watch over all;
        // the same failure again is logged once, not every poll.
        try {
          this.look(watched);
          watched.lookFailure = undefined;
        } catch (error) {
          const message = (error as Error).message;
          if (message !== watched.lookFailure) this.context.log(`✗ supervisor: looking at ${watched.component.name}: ${message}`);
          watched.lookFailure = message;
        }
      }
      await this.context.pause(this.pollMs);
    }
  }

  /** One look at one component: still running, stopped on purpose, taken over, or dead. */
  private look(watched: Watched): void {
    if (watched.state !== 'watching' && watched.state !== 'stopped') return;
    const { log, owner } = this.context;
    const { name } = watched.component;
    const record = recordOf(name);
    if (record !== undefined) {
      if (record.owner !== owner) {
        watched.state = 'handed-over';
        log(`• ${name} was started again by another session (pid ${record.pid}); that one watches it now`);
      } else if (watched.state === 'stopped') {
        watched.state = 'watching';
        watched.series = new RestartSeries(Date.now(), this.context.policy);
        log(`• ${name} is running again (pid ${record.pid}); watching it`);
      }
      watched.pid = record.pid;
      return;
    }
    if (watched.state === 'stopped') return;
    if (markedStopped(name)) {
      watched.state = 'stopped';
      log(`■ ${name} was stopped on purpose; not restarting it`);
      return;
    }
    // Someone is stopping components (`npm stop`): each is marked before it is signalled, so wait and see.
    if (stoppingProcesses().length > 0) return;
    watched.state = 'restarting';
    this.context.track(
      this.recover(watched).catch((error: unknown) => {
        // A restart that failed on something other than the component (a file changed under it) is not the
        // end of the watch over it: the next look finds it dead and starts a restart again.
        this.context.log(`✗ supervisor: restarting ${name}: ${(error as Error).message}`);
        if (watched.state === 'restarting') watched.state = 'watching';
      }),
    );
  }

  /** Brings a dead component back: waits as the policy says, launches it and waits until it answers; again if that fails. */
  private async recover(watched: Watched): Promise<void> {
    const { log } = this.context;
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
      log(`✗ ${name} ${cause} — restarting in ${decision.delayMs / 1000}s (restart ${decision.attempt})`);
      await this.context.pause(decision.delayMs);
      if (!(await this.stillDead(watched))) return;
      let pid: number;
      try {
        pid = await launchComponent(component, this.context.owner);
      } catch (error) {
        cause = `could not be started (${(error as Error).message})`;
        continue;
      }
      watched.pid = pid;
      updateRestarts(name, (record) => {
        record.restarts += 1;
      });
      try {
        await waitReady(component, pid, this.context.signal);
        updateRestarts(name, (record) => {
          record.lastBackAt = new Date().toISOString();
        });
        log(`✓ ${name} back after ${secondsSince(downSince)}`);
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
        log(`✗ ${name} restarted (pid ${pid}) but not answering after ${timeout}; watching its process`);
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
    while (!this.stopped && stoppingProcesses().length > 0) await this.context.pause(this.pollMs);
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
    this.context.log(
      [
        `✗ ${name} ${cause}: ${failedRestarts} restarts in a row did not last ${this.context.policy.stableAfterMs / 1000}s.`,
        `✗ GIVING UP on ${name}: it stays down (npm run status shows it). Last lines of ${logFile(name)}:`,
        logTail(name, 20),
      ].join('\n'),
    );
  }
}
