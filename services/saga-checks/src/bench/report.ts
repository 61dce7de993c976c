// The bench's figures as numbers and as text: percentiles, the shape of a phase's result and of the JSON
// report, the targets and whether a run met them, and the summary printed at the end. Nothing here
// touches the stack, so all of it is unit-tested.

/** Count, p50, p95, p99 and max of a set of samples in ms, rounded to 0.1 ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Nearest-rank percentiles: the p-th percentile is the smallest sample with at least p % of the samples at or
 * below it (of 100 samples, p99 is the 99th smallest). Without samples every figure is NaN (null in JSON).
 */
export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
  const round = (v: number) => Math.round(v * 10) / 10;
  return { count: sorted.length, p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), max: round(sorted.at(-1) ?? NaN) };
}

/** What the orders of a phase came to, as the load generator counted them. */
export interface Outcomes {
  completed: number;
  cancelled: number;
  /** Neither COMPLETED nor CANCELLED when the wait ended, or no answer at all. */
  other: number;
  /** End-to-end ms of each completed order. */
  latencies: number[];
}

/** One order phase (or its warm-up). */
export interface PhaseResult {
  phase: string;
  /** Orders per second offered (open loop), or the number of clients (closed loop). */
  offered: string;
  seconds: number;
  placed: number;
  completed: number;
  cancelled: number;
  pendingOrFailed: number;
  throughputPerSecond: number;
  endToEndMs: Percentiles;
  /** Open loop: orders sent more than 10 ms after they were due (the generator or the stack fell behind). */
  late: number;
  /** CPU ms per completed order, per component (instances of a service added up) and for the generator. */
  cpuMsPerOrder: Record<string, number>;
}

/** A phase as reported, with the CDC hop figure when the hop probe ran in it. */
export interface PhaseReport extends PhaseResult {
  /** Whether the bench's own consumer on the three topics ran during the phase (and its warm-up). */
  hopProbe: boolean;
  /** One CDC hop, outbox write to receipt by the probe; null when the probe was off. */
  cdcHopMs: Percentiles | null;
}

/** A closed loop of GETs: requests/s, failures, and the latency of the answered ones. */
export interface RequestLoopResult {
  requestsPerSecond: number;
  failed: number;
  ms: Percentiles;
}

/** The `gateway` phase: the same GET straight to an instance and through the gateway. */
export interface GatewayResult {
  clients: number;
  seconds: number;
  direct: RequestLoopResult;
  throughGateway: RequestLoopResult;
  addedMs: { p50: number; p99: number };
  gatewayCpuMsPerRequest: number;
}

/** The `idle` phase: what the stack burns with no orders, in % of one core per component. */
export interface IdleResult {
  seconds: number;
  /** Per component (largest first) and their sum as `stackTotal`; 100 is one core busy. */
  cpuPercentOfOneCore: Record<string, number>;
  /** Resident memory at the end of the phase, MiB per component (largest first) and `stackTotal`. */
  rssMiB?: Record<string, number>;
}

/** The idle target: the whole stack at most this % of one core with no orders. */
export const IDLE_TARGET_PERCENT = 25;

/** The idle target in words, as the report writes it. */
export const IDLE_TARGET_TEXT = `no orders: the whole stack <= ${IDLE_TARGET_PERCENT} % of one core`;

/** Judges the idle phase (not an order phase: it has no orders, only CPU) against IDLE_TARGET_PERCENT. */
export function checkIdle(idle: IdleResult | undefined): TargetVerdict {
  const target = IDLE_TARGET_TEXT;
  if (!idle) return { phase: 'idle', target, verdict: 'not run', checks: [] };
  const measured = idle.cpuPercentOfOneCore.stackTotal ?? NaN;
  const met = measured <= IDLE_TARGET_PERCENT;
  return {
    phase: 'idle',
    target,
    verdict: met ? 'met' : 'missed',
    checks: [{ figure: 'stack CPU', measured, op: '<=', limit: IDLE_TARGET_PERCENT, unit: ' % of a core', met }],
  };
}

/** What the saga's steps cannot beat on this machine. */
export interface Floors {
  mysqlDurableTxMs: Percentiles;
  kafkaRoundTripMs: Percentiles;
}

/** The settings a phase ran with, as far as a target cares. */
export interface RunSettings {
  name: string;
  /** Open loop: orders offered per second. */
  rate?: number;
  /** Closed loop: clients. */
  clients?: number;
  seconds: number;
}

/** One figure of a target: `figure` of the phase's result must be at most (or at least) `limit`. */
export interface Bound {
  figure: string;
  measure: (result: PhaseResult) => number;
  op: '<=' | '>=';
  limit: number;
  unit: string;
}

/** A target of the bench, stated for one phase run under given settings. */
export interface Target {
  phase: string;
  /** The target in words, as the report has always written it. */
  text: string;
  /** The settings the target is stated for; a phase run with others is not judged against it. */
  conditions: Partial<Pick<RunSettings, 'rate' | 'clients' | 'seconds'>>;
  bounds: Bound[];
}

/** The bench's targets, as it has always printed them, now with the figures that decide each. */
export const TARGETS: Target[] = [
  {
    phase: 'latency',
    text: 'at 20 orders/s (open loop): end-to-end p50 <= 50 ms, p99 <= 120 ms',
    conditions: { rate: 20 },
    bounds: [
      { figure: 'end-to-end p50', measure: (r) => r.endToEndMs.p50, op: '<=', limit: 50, unit: ' ms' },
      { figure: 'end-to-end p99', measure: (r) => r.endToEndMs.p99, op: '<=', limit: 120, unit: ' ms' },
    ],
  },
  {
    phase: 'throughput',
    text: 'closed loop, 64 clients, 60 s: >= 190 completed orders/s with p99 <= 1 s and <= 9 ms of stack CPU per order, every order COMPLETED',
    conditions: { clients: 64, seconds: 60 },
    bounds: [
      { figure: 'completed', measure: (r) => r.throughputPerSecond, op: '>=', limit: 190, unit: '/s' },
      { figure: 'end-to-end p99', measure: (r) => r.endToEndMs.p99, op: '<=', limit: 1000, unit: ' ms' },
      { figure: 'stack CPU', measure: (r) => r.cpuMsPerOrder.stackTotal ?? NaN, op: '<=', limit: 9, unit: ' ms/order' },
      { figure: 'not completed', measure: (r) => r.cancelled + r.pendingOrFailed, op: '<=', limit: 0, unit: '' },
    ],
  },
];

/** Whether a phase met a target, figure by figure. */
export interface TargetVerdict {
  phase: string;
  target: string;
  /**
   * `not run`: the phase was not among --phases. `not judged`: it ran with other settings than the target is
   * stated for (see `reason`). A figure that could not be measured (no completed order) counts as missed.
   */
  verdict: 'met' | 'missed' | 'not run' | 'not judged';
  reason?: string;
  checks: Array<{ figure: string; measured: number; op: Bound['op']; limit: number; unit: string; met: boolean }>;
}

const SETTING_WORDS: Record<keyof Target['conditions'], (value: number) => string> = {
  rate: (value) => `${value} orders/s`,
  clients: (value) => `${value} clients`,
  seconds: (value) => `${value} s`,
};

/** Judges each target against the last run of its phase. */
export function checkTargets(targets: Target[], runs: Array<{ settings: RunSettings; result: PhaseResult }>): TargetVerdict[] {
  return targets.map((target): TargetVerdict => {
    const run = runs.findLast((r) => r.settings.name === target.phase);
    const verdict = { phase: target.phase, target: target.text };
    if (!run) return { ...verdict, verdict: 'not run', checks: [] };
    const differing = (Object.keys(target.conditions) as Array<keyof Target['conditions']>).filter(
      (key) => run.settings[key] !== target.conditions[key],
    );
    if (differing.length > 0) {
      const words = (from: Partial<Record<keyof Target['conditions'], number>>) =>
        differing.map((key) => (from[key] === undefined ? `no ${key}` : SETTING_WORDS[key](from[key]))).join(', ');
      return {
        ...verdict,
        verdict: 'not judged',
        reason: `ran with ${words(run.settings)}, the target is for ${words(target.conditions)}`,
        checks: [],
      };
    }
    const checks = target.bounds.map((bound) => {
      const measured = bound.measure(run.result);
      // NaN (nothing measured) fails both comparisons: a figure that is missing is not a target met.
      const met = bound.op === '<=' ? measured <= bound.limit : measured >= bound.limit;
      return { figure: bound.figure, measured, op: bound.op, limit: bound.limit, unit: bound.unit, met };
    });
    return { ...verdict, verdict: checks.every((check) => check.met) ? 'met' : 'missed', checks };
  });
}

/** The JSON report, written to bench-results/bench-<time>.json. */
export interface BenchReport {
  at: string;
  machine: { cpus: number; node: string };
  floors: Floors;
  phases: PhaseReport[];
  gateway: GatewayResult | undefined;
  idle?: IdleResult | undefined;
  /** Each target in words, by phase. */
  targets: Record<string, string>;
  targetCheck: TargetVerdict[];
  auditFindings: number;
}

const ms = (value: number) => `${value} ms`;

/** "on in latency, off in throughput": what the CDC hop figures rest on, and which phases paid for the probe. */
export function hopProbeWords(phases: Array<Pick<PhaseReport, 'phase' | 'hopProbe'>>): string {
  if (phases.length === 0) return 'no order phase ran';
  const names = (on: boolean) => phases.filter((p) => p.hopProbe === on).map((p) => p.phase);
  const parts = [
    names(true).length > 0 ? `on in ${names(true).join(', ')}` : '',
    names(false).length > 0 ? `off in ${names(false).join(', ')}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

function verdictLine(v: TargetVerdict): string {
  const head = `  ${v.phase.padEnd(10)} ${v.verdict === 'missed' ? 'MISSED' : v.verdict}`;
  if (v.verdict === 'not run') return `${head} (${v.target})`;
  if (v.verdict === 'not judged') return `${head}: ${v.reason} (${v.target})`;
  const checks = v.checks.map((c) => `${c.figure} ${c.measured}${c.unit} ${c.met ? 'met' : 'MISSED'} (${c.op} ${c.limit}${c.unit})`);
  return `${head}: ${checks.join(', ')} (${v.target})`;
}

/** The summary printed at the end of a run, line by line. */
export function summaryLines(report: BenchReport, file: string): string[] {
  const lines = ['', 'summary'];
  for (const r of report.phases) {
    const hop = r.cdcHopMs ? `cdc hop p50 ${r.cdcHopMs.p50} ms p99 ${r.cdcHopMs.p99} ms` : 'cdc hop not measured (probe off)';
    lines.push(
      `  ${r.phase.padEnd(10)} offered ${r.offered}  completed ${r.throughputPerSecond}/s  e2e p50 ${ms(r.endToEndMs.p50)}  p95 ${ms(r.endToEndMs.p95)}  p99 ${ms(r.endToEndMs.p99)}  ${hop}  (not completed: ${r.cancelled + r.pendingOrFailed}, late: ${r.late})`,
      `             CPU ms per completed order: ${Object.entries(r.cpuMsPerOrder)
        .map(([name, value]) => `${name} ${value}`)
        .join(', ')}`,
    );
  }
  if (report.idle) {
    lines.push(
      `  idle       ${report.idle.seconds} s without orders, CPU % of one core: ${Object.entries(report.idle.cpuPercentOfOneCore)
        .map(([name, value]) => `${name} ${value}`)
        .join(', ')}`,
    );
    if (report.idle.rssMiB) {
      lines.push(
        `             resident memory, MiB: ${Object.entries(report.idle.rssMiB)
          .map(([name, value]) => `${name} ${value}`)
          .join(', ')}`,
      );
    }
  }
  const gatewayResult = report.gateway;
  if (gatewayResult) {
    const { direct, throughGateway: via } = gatewayResult;
    lines.push(
      `  gateway    GET, ${gatewayResult.clients} clients: direct ${direct.requestsPerSecond}/s p50 ${ms(direct.ms.p50)} p99 ${ms(direct.ms.p99)}; through the gateway ${via.requestsPerSecond}/s p50 ${ms(via.ms.p50)} p99 ${ms(via.ms.p99)} (+${gatewayResult.addedMs.p50} ms p50); gateway CPU ${gatewayResult.gatewayCpuMsPerRequest} ms/request`,
    );
  }
  const { floors } = report;
  lines.push(
    `  floors     durable MariaDB tx p50 ${ms(floors.mysqlDurableTxMs.p50)}  kafkajs produce->consume p50 ${ms(floors.kafkaRoundTripMs.p50)}`,
    `  hop probe  ${hopProbeWords(report.phases)}`,
    `  audit      ${report.auditFindings === 0 ? 'clean' : `${report.auditFindings} finding(s)`}`,
    'targets',
    ...report.targetCheck.map(verdictLine),
    `written to ${file}`,
  );
  return lines;
}
