import type { Consumer } from 'kafkajs';
import type { Knex } from 'knex';

export type HealthStatus = 'UP' | 'DOWN' | 'STARTING';

export interface CheckResult {
  status: HealthStatus;
  reason?: string;
}

/** One dependency the instance cannot work without. */
export interface HealthCheck {
  name: string;
  check(): Promise<CheckResult> | CheckResult;
}

export interface HealthReport {
  status: HealthStatus;
  checks: Record<string, CheckResult>;
}

/** DOWN if any check is DOWN, STARTING while any is still starting, UP when all are. */
export function overall(checks: Record<string, CheckResult>): HealthStatus {
  const states = Object.values(checks).map((c) => c.status);
  if (states.includes('DOWN')) return 'DOWN';
  if (states.includes('STARTING')) return 'STARTING';
  return 'UP';
}

/** The database answers a trivial query within `timeoutMs`. */
export function databaseCheck(db: Knex, timeoutMs = 2000): HealthCheck {
  return {
    name: 'database',
    async check() {
      try {
        await db.raw('select 1').timeout(timeoutMs, { cancel: false });
        return { status: 'UP' };
      } catch (error) {
        return { status: 'DOWN', reason: (error as Error).message };
      }
    },
  };
}

export interface ConsumerCheckOptions {
  /**
   * How long a consumer that crashed on an error kafkajs retries (a broker gone, its group coordinator
   * moved) may take to join its group again before the instance reports DOWN. Meanwhile the check stays
   * UP with the crash as its reason: the instance still serves HTTP, and taking it out of Eureka for a
   * restart of seconds would turn a broker's death into refused orders.
   */
  restartGraceMs: number;
  /** Whether the service itself stopped the consumer (a clean shutdown, a test): DOWN at once. */
  stoppedOnPurpose: () => boolean;
  now?: () => number;
}

/**
 * Follows a kafkajs consumer through its events: STARTING until it first joins its group, UP while it is
 * a member, DOWN once it stopped on purpose or crashed for good (an error kafkajs does not retry), and
 * after a crash kafkajs restarts it, DOWN only if it has not joined again within `restartGraceMs`.
 *
 * kafkajs stops a crashing consumer before it says whether it restarts it (STOP, then CRASH), so a STOP
 * counts only when the service asked for it.
 */
export function consumerCheck(consumer: Consumer, options: ConsumerCheckOptions): { name: string; check(): CheckResult } {
  const now = options.now ?? Date.now;
  let joined = false;
  let failed: CheckResult | undefined;
  let restarting: { since: number; message: string } | undefined;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
    failed = undefined;
    restarting = undefined;
  });
  consumer.on(consumer.events.CRASH, (event) => {
    const { error, restart } = event.payload as { error: Error; restart: boolean };
    if (restart) {
      restarting = { since: restarting?.since ?? now(), message: error.message };
    } else {
      restarting = undefined;
      failed = { status: 'DOWN', reason: `consumer crashed: ${error.message}` };
    }
  });
  consumer.on(consumer.events.STOP, () => {
    if (options.stoppedOnPurpose()) failed = { status: 'DOWN', reason: 'consumer stopped' };
  });
  return {
    name: 'consumer',
    check() {
      if (failed !== undefined) return failed;
      if (restarting !== undefined) {
        const ms = now() - restarting.since;
        const reason = `consumer crashed ${(ms / 1000).toFixed(1)} s ago and is restarting (kafkajs restarts it): ${restarting.message}`;
        if (ms >= options.restartGraceMs) return { status: 'DOWN', reason };
        return { status: joined ? 'UP' : 'STARTING', reason };
      }
      return joined ? { status: 'UP' } : { status: 'STARTING', reason: 'not yet a member of its consumer group' };
    },
  };
}

/**
 * Runs the checks every `intervalMs` and keeps the last report, so GET /health answers from memory and a
 * flood of health requests never becomes a flood of database queries. `onChange` hears every change of
 * the overall status (to tell Eureka).
 */
export class HealthMonitor {
  private report: HealthReport;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly checks: HealthCheck[],
    private readonly intervalMs: number,
    private readonly onChange: (report: HealthReport, previous: HealthStatus) => void = () => undefined,
  ) {
    this.report = { status: 'STARTING', checks: Object.fromEntries(checks.map((c) => [c.name, { status: 'STARTING' }])) };
  }

  get current(): HealthReport {
    return this.report;
  }

  start(): void {
    const loop = () => {
      this.timer = setTimeout(() => void this.refresh().finally(() => this.timer && loop()), this.intervalMs);
      this.timer.unref();
    };
    void this.refresh();
    loop();
  }

  /** Runs every check now (at most one round at a time) and returns the new report. */
  async refresh(): Promise<HealthReport> {
    this.running ??= (async () => {
      const results = await Promise.all(this.checks.map(async (c) => [c.name, await c.check()] as const));
      const checks = Object.fromEntries(results);
      const previous = this.report.status;
      this.report = { status: overall(checks), checks };
      if (this.report.status !== previous) this.onChange(this.report, previous);
    })().finally(() => {
      this.running = undefined;
    });
    await this.running;
    return this.report;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
