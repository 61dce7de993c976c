import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { CheckResult, HealthCheck } from './health.js';

// This instance's clock against its database's. The order service decides the saga deadline by the
// database's clock (NOW(6)) against `created_at`, which the placing instance's clock wrote (decision 0013):
// a skew of S seconds moves the deadline of every saga that instance places by S. Read at start and every
// `clock.intervalMs`, exported as `clock_skew_seconds`, logged when it leaves or comes back within
// `clock.warnSeconds`, and over `clock.downSeconds` the instance is DOWN in /health (so out of Eureka and the
// gateway's routing: it places no more orders with its clock).

/** One reading of the database's clock, every time in milliseconds since the epoch. */
export interface ClockSample {
  /** This instance's clock when the query was sent. */
  sentAt: number;
  /** This instance's clock when the answer was back. */
  receivedAt: number;
  /** The database's clock, read by the query somewhere in between. */
  serverAt: number;
}

export type ClockEstimate =
  | {
      usable: true;
      /** The database's time minus this instance's (positive: this clock is behind the database's). */
      skewMs: number;
      /** Half the round trip: the server read its clock somewhere within it, so the skew is known to ±this. */
      uncertaintyMs: number;
      roundTripMs: number;
    }
  | { usable: false; roundTripMs: number; reason: string };

/**
 * The skew a sample shows, as NTP estimates it: the server's time against the midpoint of the local round
 * trip, known to half the round trip. A round trip longer than `maxRoundTripMs` (the answer waited on a
 * busy pool, server or network) leaves too wide a window to tell, and one that runs backwards (the local
 * clock stepped mid-query) means nothing: either sample is not usable.
 */
export function estimateSkew(sample: ClockSample, maxRoundTripMs: number): ClockEstimate {
  const roundTripMs = sample.receivedAt - sample.sentAt;
  if (!Number.isFinite(roundTripMs) || !Number.isFinite(sample.serverAt) || roundTripMs < 0)
    return { usable: false, roundTripMs, reason: 'the local clock went backwards during the query' };
  if (roundTripMs > maxRoundTripMs)
    return { usable: false, roundTripMs, reason: `the round trip took ${roundTripMs.toFixed(0)} ms, over ${maxRoundTripMs} ms` };
  return { usable: true, skewMs: sample.serverAt - (sample.sentAt + roundTripMs / 2), uncertaintyMs: roundTripMs / 2, roundTripMs };
}

/** How far the clocks may drift apart: a warning beyond `warnSeconds`, DOWN beyond `downSeconds`. */
export interface ClockThresholds {
  warnSeconds: number;
  downSeconds: number;
}

export type ClockState = 'OK' | 'WARN' | 'DOWN';

/**
 * OK within `warnSeconds` either way, WARN beyond it, DOWN beyond `downSeconds`. On the estimate itself:
 * its uncertainty is at most half of `maxRoundTripMs` (250 ms by default), far below either threshold.
 */
export function classifySkew(skewMs: number, thresholds: ClockThresholds): ClockState {
  const off = Math.abs(skewMs);
  if (off > thresholds.downSeconds * 1000) return 'DOWN';
  if (off > thresholds.warnSeconds * 1000) return 'WARN';
  return 'OK';
}

/** "1.234 s behind the database's (±0.002 s)", for the log and /health. */
export function describeSkew(estimate: { skewMs: number; uncertaintyMs: number }): string {
  const seconds = (ms: number) => (Math.abs(ms) / 1000).toFixed(3);
  const side = estimate.skewMs >= 0 ? 'behind' : 'ahead of';
  return `this clock is ${seconds(estimate.skewMs)} s ${side} the database's (±${seconds(estimate.uncertaintyMs)} s)`;
}

/**
 * Reads the database's clock on a connection of the pool acquired beforehand, so that the round trip is the
 * query's alone, not a connection being opened. The local times around it are the wall clock when sent plus
 * the monotonic time it took: a wall-clock step mid-query cannot make the round trip look short.
 *
 * The server's time as microseconds since the epoch in UTC, whatever the session's zone: UTC_TIMESTAMP(6)
 * ignores `time_zone`, and TIMESTAMPDIFF between two DATETIMEs is plain arithmetic. UNIX_TIMESTAMP(NOW(6))
 * gives the same while the session is in UTC (every pool session sets '+00:00'), but it converts NOW's local
 * time back through the session's zone, which a named zone with daylight saving time (a server left on
 * SYSTEM in America/New_York) makes ambiguous for the hour the clocks go back; SYSDATE(6) is a local
 * DATETIME that the driver (timezone 'Z') reads as UTC, right only in a UTC session, and to the millisecond.
 */
export async function readDatabaseClock(db: Knex): Promise<ClockSample> {
  const client = db.client as { acquireConnection(): Promise<unknown>; releaseConnection(connection: unknown): Promise<unknown> };
  const connection = await client.acquireConnection();
  try {
    const sentAt = Date.now();
    const started = performance.now();
    const [rows] = (await db
      .raw("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) AS server_us")
      .connection(connection)) as unknown as [Array<{ server_us: number | string }>];
    const receivedAt = sentAt + (performance.now() - started);
    return { sentAt, receivedAt, serverAt: Number(rows[0]!.server_us) / 1000 };
  } finally {
    await client.releaseConnection(connection);
  }
}

/** The gauge: the database's clock minus this instance's, in seconds. */
export const CLOCK_SKEW_METRIC = 'clock_skew_seconds';

export interface ClockGuardOptions extends ClockThresholds {
  /** One reading of the database's clock (`readDatabaseClock`). */
  read: () => Promise<ClockSample>;
  /** How often the clocks are compared after the first time. */
  intervalMs: number;
  /** A reading whose round trip took longer is discarded. */
  maxRoundTripMs: number;
  logger: Logger;
  /** Where `clock_skew_seconds` is exported (with the registry's default labels), from the first usable reading on. */
  registry?: Registry;
}

/**
 * Compares this instance's clock with the database's now (`sample`) and every `intervalMs` (`start`). The
 * last usable reading decides `check`, the `clock` entry of /health: UP within `downSeconds` (with the
 * skew as its reason beyond `warnSeconds`), DOWN beyond; UP while nothing has been measured, since a
 * database that cannot be read is the database check's to report. The log hears each change of state
 * once (a warning when the skew goes beyond `warnSeconds` or `downSeconds`, info when it comes back),
 * each discarded reading and each failed one.
 */
export class ClockGuard {
  private state: ClockState | undefined;
  private last: CheckResult = { status: 'UP', reason: 'not measured yet' };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Registered once it holds a reading: an instance that never measured exports no skew rather than 0. */
  private readonly gauge = new Gauge({
    name: CLOCK_SKEW_METRIC,
    help: "The database's clock minus this instance's (positive: this one is behind), read every clock.intervalMs",
    registers: [],
  });

  constructor(private readonly options: ClockGuardOptions) {}

  /** What the `clock` entry of /health says now. */
  readonly check: HealthCheck = { name: 'clock', check: () => this.last };

  /** One comparison now (at most one at a time); never throws. */
  async sample(): Promise<void> {
    this.running ??= this.compare().finally(() => {
      this.running = undefined;
    });
    await this.running;
  }

  start(): void {
    const loop = () => {
      this.timer = setTimeout(() => void this.sample().finally(() => this.timer && loop()), this.options.intervalMs);
      this.timer.unref();
    };
    loop();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async compare(): Promise<void> {
    const { logger, maxRoundTripMs } = this.options;
    let sample: ClockSample;
    try {
      sample = await this.options.read();
    } catch (error) {
      logger.warn({ reason: (error as Error).message }, "could not read the database's clock; trying again at the next interval");
      return;
    }
    const estimate = estimateSkew(sample, maxRoundTripMs);
    if (!estimate.usable) {
      logger.info(
        { roundTripMs: round(estimate.roundTripMs), maxRoundTripMs },
        `clock reading discarded: ${estimate.reason}; the skew cannot be told from it, the last reading stands`,
      );
      return;
    }
    this.gauge.set(estimate.skewMs / 1000);
    const { registry } = this.options;
    if (registry && !registry.getSingleMetric(CLOCK_SKEW_METRIC)) registry.registerMetric(this.gauge);
    const state = classifySkew(estimate.skewMs, this.options);
    const described = describeSkew(estimate);
    this.last =
      state === 'DOWN'
        ? { status: 'DOWN', reason: `${described}, over ${this.options.downSeconds} s` }
        : state === 'WARN'
          ? { status: 'UP', reason: `${described}, over ${this.options.warnSeconds} s` }
          : { status: 'UP' };
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    const fields = {
      skewSeconds: round(estimate.skewMs) / 1000,
      uncertaintySeconds: round(estimate.uncertaintyMs) / 1000,
      previous: previous ?? null,
    };
    if (state === 'DOWN') logger.warn(fields, `clock skew over ${this.options.downSeconds} s: ${described}; reporting DOWN`);
    else if (state === 'WARN') logger.warn(fields, `clock skew over ${this.options.warnSeconds} s: ${described}`);
    else logger.info(fields, `clock in step with the database's: ${described}`);
  }
}

const round = (ms: number) => Math.round(ms);
