// The bench's command line: its options, their checks, the usage text, and the plan printed before a run.
import { resolve } from 'node:path';
import { UsageError, parseCommandLine } from '../command-line.js';
import { HOP_PROBE_TOPICS } from './probes.js';
import { TARGETS } from './report.js';

/**
 * The quiet before the idle phase measures: the last orders' final events are still on their way through
 * Connect and the consumers, and offsets are committed once a second.
 */
export const IDLE_SETTLE_SECONDS = 10;

/** One order phase as the command line asked for it. */
export type OrderPhasePlan = (
  | { name: 'latency'; loop: 'open'; /** Orders per second. */ rate: number; /** At most this many in flight. */ concurrency: number }
  | { name: 'throughput'; loop: 'closed'; clients: number }
) & {
  seconds: number;
  /** Run first at the phase's own load, not counted. */
  warmupSeconds: number;
  /** Whether the hop probe runs during the phase (and its warm-up). */
  hopProbe: boolean;
};

/** What `npm run bench` was asked to do. */
export interface BenchOptions {
  /** In the order given by --phases; the gateway phase runs after them. */
  orderPhases: OrderPhasePlan[];
  gateway: { clients: number; seconds: number } | undefined;
  /** No orders for `seconds` after the order phases (and `settleSeconds` of quiet first): the stack's idle CPU. */
  idle: { seconds: number; settleSeconds: number } | undefined;
  users: number;
  products: number;
  out: string;
  /** Exit 1 when a target that applies to the run was missed. */
  check: boolean;
}

/** `--help`, or a run. */
export type BenchCommand = { command: 'help' } | ({ command: 'run' } & BenchOptions);

const ORDER_PHASES = ['latency', 'throughput'] as const;

/** The text `--help` prints. */
export const benchUsage = `usage: npm run bench [-- [--phases latency,throughput,idle,gateway] [--hop-probe latency] [--check]
                         [--latency-rate 20] [--latency-seconds 30] [--latency-warmup-seconds 90] [--concurrency 400]
                         [--throughput-clients 64] [--throughput-seconds 60] [--throughput-warmup-seconds 5]
                         [--idle-seconds 30] [--gateway-clients 16] [--gateway-seconds 15]
                         [--users 200] [--products 50] [--out DIR]]

  Places orders through the gateway, each with Prefer: wait=30 and timed to its final state, and prints per
  phase the completed orders/s, the end-to-end latency and the CPU ms per completed order of each component
  (read from /proc/<pid>/stat before and after; the load generator's own apart); then whether each target
  was met, and the audit of its own orders.
  --phases PHASES    which phases, comma-separated; the order phases run in the order given, then idle, gateway last:
    latency          open loop at --latency-rate orders/s for --latency-seconds, at most --concurrency in
                     flight. An order is timed from when it was due, not from when it was sent, so a stall
                     is not hidden (coordinated omission); one sent more than 10 ms late is counted as late.
    throughput       closed loop: --throughput-clients clients, each placing its next order when its last one
                     is final, for --throughput-seconds: what the stack completes when it is the bottleneck.
    idle             no orders for --idle-seconds, after ${IDLE_SETTLE_SECONDS} s for the last events to drain: each
                     component's CPU in % of one core (polls, health checks, heartbeats, registry renewals).
    gateway          GET /products/:id straight to a product instance and through the gateway, closed loop,
                     --gateway-clients clients for --gateway-seconds each: what the gateway adds to a request,
                     and its CPU per request.
                     Each order phase first runs a warm-up at its own load (--latency-warmup-seconds,
                     --throughput-warmup-seconds), not counted: a fresh stack is still compiling in every JVM.
  --hop-probe PHASES the order phases (comma-separated, or none) during which the bench runs its own consumer
                     on ${HOP_PROBE_TOPICS.join(', ')} to time each event from its outbox write to its
                     receipt (one CDC hop); it runs through the phase's warm-up too, recording only in the
                     phase. Default: latency. The probe's fetches cost the broker it measures CPU, so the
                     throughput phase runs without it unless asked.
  --check            exit 1 when a phase run with a target's settings missed it; without it the summary
                     says met or MISSED and a missed target does not change the exit status
  --users, --products  the fixtures the bench creates (rich users, well-stocked products)
  --out DIR          where the JSON report goes (default: ../../bench-results, which under npm run bench is
                     bench-results/ at the repository's root)
  --help             this text

  Targets, each judged only for a phase run with its settings:
${TARGETS.map((t) => `    ${t.phase.padEnd(15)}${t.text}`).join('\n')}
  Before the phases it measures the floors below the saga: one durable MariaDB transaction and a kafkajs
  produce->consume round trip. Figures go to stdout and to DIR/bench-<time>.json.
  Exit status: 1 when the audit finds anything in the bench's orders or (--check) a target was missed, 2 for a
  command line it does not understand, 0 otherwise.`;

const OPTIONS = {
  phases: { type: 'string', default: 'latency,throughput,idle,gateway' },
  'idle-seconds': { type: 'string', default: '30' },
  'hop-probe': { type: 'string', default: 'latency' },
  check: { type: 'boolean', default: false },
  'gateway-seconds': { type: 'string', default: '15' },
  'gateway-clients': { type: 'string', default: '16' },
  'latency-rate': { type: 'string', default: '20' },
  'latency-seconds': { type: 'string', default: '30' },
  'throughput-clients': { type: 'string', default: '64' },
  'throughput-seconds': { type: 'string', default: '60' },
  concurrency: { type: 'string', default: '400' },
  products: { type: 'string', default: '50' },
  users: { type: 'string', default: '200' },
  // A stack that has just started is still compiling (JIT) in every JVM: at 20 orders/s this machine needs
  // one to two minutes of load before latencies settle, while a saturated phase warms up in seconds.
  'latency-warmup-seconds': { type: 'string', default: '90' },
  'throughput-warmup-seconds': { type: 'string', default: '5' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type NumericOption = Exclude<keyof typeof OPTIONS, 'phases' | 'hop-probe' | 'check' | 'out' | 'help'>;

const KINDS = {
  positive: { ok: (v: number) => v > 0, words: 'a number above 0' },
  'zero or more': { ok: (v: number) => v >= 0, words: 'a number, 0 or more' },
  count: { ok: (v: number) => Number.isInteger(v) && v >= 1, words: 'a whole number, 1 or more' },
};

function phaseList(name: string, text: string, allowed: readonly string[]): string[] {
  const names = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of names) if (!allowed.includes(p)) throw new UsageError(`--${name}: no phase "${p}" (${allowed.join(', ')})`);
  return names;
}

/** Reads the bench's command line; throws a UsageError for anything it does not understand. */
export function parseBenchArgs(argv: string[], cwd = process.cwd()): BenchCommand {
  const { values } = parseCommandLine({ args: argv, options: OPTIONS });
  if (values.help) return { command: 'help' };
  const number = (name: NumericOption, kind: keyof typeof KINDS) => {
    const text = values[name];
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || !KINDS[kind].ok(value))
      throw new UsageError(`--${name} ${text}: not ${KINDS[kind].words}`);
    return value;
  };
  const phases = phaseList('phases', values.phases, [...ORDER_PHASES, 'idle', 'gateway']);
  const probed = values['hop-probe'].trim() === 'none' ? [] : phaseList('hop-probe', values['hop-probe'], ORDER_PHASES);
  const orderPhases = phases
    .filter((name) => name !== 'gateway' && name !== 'idle')
    .map((name): OrderPhasePlan =>
      name === 'latency'
        ? {
            name,
            loop: 'open',
            rate: number('latency-rate', 'positive'),
            concurrency: number('concurrency', 'count'),
            seconds: number('latency-seconds', 'positive'),
            warmupSeconds: number('latency-warmup-seconds', 'zero or more'),
            hopProbe: probed.includes(name),
          }
        : {
            name: 'throughput',
            loop: 'closed',
            clients: number('throughput-clients', 'count'),
            seconds: number('throughput-seconds', 'positive'),
            warmupSeconds: number('throughput-warmup-seconds', 'zero or more'),
            hopProbe: probed.includes(name),
          },
    );
  return {
    command: 'run',
    orderPhases,
    gateway: phases.includes('gateway')
      ? { clients: number('gateway-clients', 'count'), seconds: number('gateway-seconds', 'positive') }
      : undefined,
    idle: phases.includes('idle') ? { seconds: number('idle-seconds', 'positive'), settleSeconds: IDLE_SETTLE_SECONDS } : undefined,
    users: number('users', 'count'),
    products: number('products', 'count'),
    out: values.out ?? resolve(cwd, '../../bench-results'),
    check: values.check,
  };
}

/** What the run will do, printed before it starts so that the output says what ran. */
export function planLines(options: BenchOptions): string[] {
  const lines = ['▶ plan'];
  lines.push('  floors      a durable MariaDB transaction and a kafkajs produce->consume round trip, 300 each, before the phases');
  for (const p of options.orderPhases) {
    const load =
      p.loop === 'open'
        ? `open loop, ${p.rate} orders/s for ${p.seconds} s, at most ${p.concurrency} in flight`
        : `closed loop, ${p.clients} clients for ${p.seconds} s`;
    const warmup = p.warmupSeconds > 0 ? `after a ${p.warmupSeconds} s warm-up` : 'no warm-up';
    lines.push(`  ${p.name.padEnd(11)} ${load}, ${warmup}; hop probe ${p.hopProbe ? 'on' : 'off'}`);
  }
  if (options.idle) {
    lines.push(
      `  idle        no orders for ${options.idle.seconds} s, after ${options.idle.settleSeconds} s of quiet: CPU % of one core per component`,
    );
  }
  if (options.gateway) {
    lines.push(
      `  gateway     GET /products/:id, ${options.gateway.clients} clients, ${options.gateway.seconds} s direct and ${options.gateway.seconds} s through the gateway`,
    );
  }
  if (options.orderPhases.some((p) => p.hopProbe)) {
    lines.push(
      `  hop probe   a consumer of the bench's own on ${HOP_PROBE_TOPICS.join(', ')}: where it runs, its client CPU counts in loadGenerator and its broker CPU in kafka`,
    );
  }
  lines.push(
    `  targets     ${options.check ? 'checked: a missed one makes the exit status 1 (--check)' : 'reported, not enforced (--check makes a missed one exit 1)'}`,
  );
  return lines;
}
