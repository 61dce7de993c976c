import test from 'ava';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../src/command-line.js';
import { benchUsage, parseBenchArgs, planLines, type BenchOptions } from '../../src/bench/args.js';
import { closedLoop, dueOffsetMs, LATE_MS, openLoop, type Clock } from '../../src/bench/load.js';
import { cpuMsPerOrder, statCpuSeconds, statusRssKiB } from '../../src/bench/probes.js';
import {
  checkIdle,
  checkTargets,
  hopProbeWords,
  percentiles,
  summaryLines,
  TARGETS,
  type BenchReport,
  type PhaseResult,
  type RunSettings,
} from '../../src/bench/report.js';

/**
 * Virtual time for the schedulers: `sleep` queues a timer, and `run` moves the time to the next timer only once
 * every promise that could still act at the current time has settled. `stall` is a synchronous pause (the
 * generator busy), which moves time without giving anything else a turn.
 */
function virtualClock() {
  let now = 0;
  let seq = 0;
  const timers: Array<{ at: number; seq: number; fire: () => void }> = [];
  const clock: Clock = {
    now: () => now,
    sleep: (ms) => new Promise<void>((fire) => timers.push({ at: now + ms, seq: seq++, fire })),
  };
  async function run<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    void work.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) return work;
      timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = timers.shift();
      if (!next) throw new Error('the loop waits for nothing and never ends');
      now = Math.max(now, next.at);
      next.fire();
    }
  }
  return { clock, run, stall: (ms: number) => (now += ms) };
}

test('percentiles: none, one, and the nearest rank of 100', (t) => {
  const none = percentiles([]);
  t.is(none.count, 0);
  for (const figure of [none.p50, none.p95, none.p99, none.max]) t.true(Number.isNaN(figure));
  t.deepEqual(percentiles([42.04]), { count: 1, p50: 42, p95: 42, p99: 42, max: 42 });
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 down to 1, unsorted on purpose
  t.deepEqual(percentiles(hundred), { count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  t.is(hundred[0], 100, 'the samples are not sorted in place');
  t.deepEqual(percentiles([1, 2]), { count: 2, p50: 1, p95: 2, p99: 2, max: 2 });
  t.is(percentiles([12.345, 12.36]).p99, 12.4, 'rounded to 0.1 ms');
});

test('open loop: orders are sent when due, and timed from then', async (t) => {
  t.is(dueOffsetMs(0, 20), 0);
  t.is(dueOffsetMs(3, 20), 150);
  t.is(dueOffsetMs(7, 0.5), 14_000);
  const { clock, run } = virtualClock();
  const sentAt: number[] = [];
  const send = async (i: number) => {
    t.is(i, sentAt.length, 'orders are numbered in the order they go out');
    sentAt.push(clock.now());
    await clock.sleep(30);
    return 'COMPLETED';
  };
  const result = await run(openLoop(20, 1, 400, send, clock));
  t.deepEqual(
    sentAt,
    Array.from({ length: 20 }, (_, i) => i * 50),
  );
  t.like(result, { started: 0, placed: 20, late: 0, counts: { completed: 20, cancelled: 0, other: 0 } });
  t.deepEqual(result.counts.latencies, Array(20).fill(30));
  t.is((await run(openLoop(7, 1.5, 400, () => Promise.resolve('COMPLETED'), clock))).placed, 11, 'rate × seconds, rounded');
});

test(`open loop: a stall shows in the latency, and an order more than ${LATE_MS} ms behind is late`, async (t) => {
  const { clock, run, stall } = virtualClock();
  const result = await run(
    openLoop(
      20,
      0.5,
      400,
      (i) => {
        if (i === 2) stall(55); // order 3 goes out 5 ms after it was due: not late
        if (i === 5) stall(65); // order 6 goes out 15 ms after it was due: late
        return clock.sleep(30).then(() => 'COMPLETED');
      },
      clock,
    ),
  );
  t.is(result.late, 1);
  // Order 2 was answered 30 ms after the stall that delayed it ended; order 3 is timed from 150, when it was due.
  t.deepEqual(result.counts.latencies, [30, 30, 85, 35, 30, 95, 45, 30, 30, 30]);
});

test('open loop: at most `concurrency` in flight; the orders that wait for a slot are late and timed from when due', async (t) => {
  const { clock, run } = virtualClock();
  const sentAt: number[] = [];
  let inFlight = 0;
  let most = 0;
  const send = async () => {
    sentAt.push(clock.now());
    most = Math.max(most, ++inFlight);
    await clock.sleep(120);
    inFlight--;
    return 'COMPLETED';
  };
  const result = await run(openLoop(20, 0.5, 1, send, clock));
  t.is(most, 1);
  t.is(result.placed, 10);
  t.is(result.late, 9, 'each order after the first waits for the one before it');
  sentAt.forEach((at, i) => t.true(at >= i * 120, `order ${i} went out once the slot was free`));
  t.deepEqual(
    result.counts.latencies,
    sentAt.map((at, i) => at + 120 - dueOffsetMs(i, 20)),
  );
});

test('closed loop: each client sends its next order when its last is answered, until the time is up; every outcome counts', async (t) => {
  const { clock, run } = virtualClock();
  const sent: number[] = [];
  const outcome = (i: number) => (i % 4 === 3 ? 'CANCELLED' : i === 5 ? undefined : 'COMPLETED');
  const result = await run(closedLoop(2, 1, (i) => (sent.push(i), clock.sleep(300).then(() => outcome(i))), clock));
  // Two clients send at 0, 300, 600 and 900 ms; the orders sent at 900 end after the second is over and still count.
  t.deepEqual(sent, [0, 1, 2, 3, 4, 5, 6, 7]);
  t.like(result, { started: 0, placed: 8, late: 0, counts: { completed: 5, cancelled: 2, other: 1 } });
  t.deepEqual(result.counts.latencies, Array(5).fill(300), 'timed from when each was sent');
  t.is(clock.now(), 1200);
});

test('CPU seconds from a /proc/<pid>/stat line, whatever the command name holds', (t) => {
  const line = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194304 1000 0 0 0 250 130 0 0 20 0 11 0 5000 100000 200 18446744073709551615';
  t.is(statCpuSeconds(line), 3.8);
});

test('CPU ms per completed order from two readings: instances added up per component, largest first, then the sums', (t) => {
  const before = new Map([
    ['order-1', 10],
    ['order-2', 20],
    ['kafka', 100],
    ['mariadb', 50],
    ['gateway-1', 5], // gone before the second reading
  ]);
  const after = new Map([
    ['order-1', 11],
    ['order-2', 20.5],
    ['kafka', 101],
    ['mariadb', 52],
    ['product-1', 3], // started after the first reading
  ]);
  const result = cpuMsPerOrder(before, after, 0.25, 500);
  t.deepEqual(result, { mariadb: 4, order: 3, kafka: 2, stackTotal: 9, loadGenerator: 0.5 });
  t.deepEqual(Object.keys(result), ['mariadb', 'order', 'kafka', 'stackTotal', 'loadGenerator']);
  t.is(cpuMsPerOrder(new Map([['user-1', 0]]), new Map([['user-1', 1]]), 0, 3).user, 333.33, 'rounded to 0.01 ms');
  for (const value of Object.values(cpuMsPerOrder(before, after, 0.25, 0))) t.true(Number.isNaN(value), 'nothing completed: no figure');
});

function phase(over: Partial<PhaseResult> = {}): PhaseResult {
  return {
    phase: 'throughput',
    offered: '64 clients',
    seconds: 60.4,
    placed: 18_000,
    completed: 18_000,
    cancelled: 0,
    pendingOrFailed: 0,
    throughputPerSecond: 310,
    endToEndMs: { count: 18_000, p50: 200, p95: 600, p99: 900, max: 1500 },
    late: 0,
    cpuMsPerOrder: { stackTotal: 6, loadGenerator: 1 },
    ...over,
  };
}

const latencySettings: RunSettings = { name: 'latency', rate: 20, seconds: 30 };
const throughputSettings: RunSettings = { name: 'throughput', clients: 64, seconds: 60 };

test('targets: met, missed figure by figure, not run, and not judged under other settings', (t) => {
  const latency = phase({ phase: 'latency', offered: '20/s', endToEndMs: { count: 600, p50: 45, p95: 120, p99: 170, max: 300 } });
  const [lat, thr] = checkTargets(TARGETS, [
    { settings: latencySettings, result: latency },
    { settings: throughputSettings, result: phase() },
  ]);
  t.like(lat, { phase: 'latency', verdict: 'missed' });
  t.deepEqual(
    lat!.checks.map((c) => [c.figure, c.measured, c.met]),
    [
      ['end-to-end p50', 45, true],
      ['end-to-end p99', 170, false],
    ],
  );
  t.like(thr, { phase: 'throughput', verdict: 'met' });

  const notCompleted = checkTargets(TARGETS, [{ settings: throughputSettings, result: phase({ completed: 17_999, cancelled: 1 }) }]);
  t.deepEqual(
    notCompleted.map((v) => v.verdict),
    ['not run', 'missed'],
    'every order COMPLETED is part of the throughput target',
  );

  const nothing = phase({ completed: 0, throughputPerSecond: 0, pendingOrFailed: 18_000, endToEndMs: percentiles([]) });
  t.is(
    checkTargets(TARGETS, [{ settings: throughputSettings, result: nothing }])[1]!.verdict,
    'missed',
    'a figure not measured is not met',
  );

  const [other] = checkTargets(TARGETS, [{ settings: { name: 'latency', rate: 50, seconds: 20 }, result: latency }]);
  t.like(other, { verdict: 'not judged', reason: 'ran with 50 orders/s, the target is for 20 orders/s', checks: [] });
  const shorter = checkTargets(TARGETS, [{ settings: { name: 'throughput', clients: 32, seconds: 30 }, result: phase() }])[1];
  t.is(shorter!.reason, 'ran with 32 clients, 30 s, the target is for 64 clients, 60 s');
});

test('the summary says which target was met, and where the hop probe ran', (t) => {
  const phases = [
    { ...phase({ phase: 'latency', offered: '20/s' }), hopProbe: true, cdcHopMs: { count: 2400, p50: 25, p95: 40, p99: 60, max: 90 } },
    { ...phase(), hopProbe: false, cdcHopMs: null },
  ];
  const report: BenchReport = {
    at: '2025-06-01T12:00:00.000Z',
    machine: { cpus: 2, node: 'v20.0.0' },
    floors: { mysqlDurableTxMs: percentiles([2.7]), kafkaRoundTripMs: percentiles([9.7]) },
    phases,
    gateway: undefined,
    targets: {},
    targetCheck: checkTargets(TARGETS, [
      { settings: latencySettings, result: phases[0]! },
      { settings: throughputSettings, result: phases[1]! },
    ]),
    auditFindings: 0,
  };
  const text = summaryLines(report, '/tmp/bench.json').join('\n');
  t.regex(text, /latency {4}offered 20\/s .* cdc hop p50 25 ms p99 60 ms/);
  t.regex(text, /throughput offered 64 clients .* cdc hop not measured \(probe off\)/);
  t.regex(text, /hop probe {2}on in latency; off in throughput/);
  t.regex(text, /latency {4}MISSED: end-to-end p50 200 ms MISSED \(<= 50 ms\), end-to-end p99 900 ms MISSED \(<= 120 ms\)/);
  t.regex(
    text,
    /throughput met: completed 310\/s met \(>= 190\/s\), end-to-end p99 900 ms met \(<= 1000 ms\), stack CPU 6 ms\/order met \(<= 9 ms\/order\), not completed 0 met \(<= 0\)/,
  );
  t.is(hopProbeWords([{ phase: 'throughput', hopProbe: false }]), 'off in throughput');
  t.is(hopProbeWords([]), 'no order phase ran');
});

test('the command line: defaults, with the hop probe in the latency phase only', (t) => {
  t.deepEqual(parseBenchArgs([], '/repo/services/saga-checks'), {
    command: 'run',
    orderPhases: [
      { name: 'latency', loop: 'open', rate: 20, concurrency: 400, seconds: 30, warmupSeconds: 90, hopProbe: true },
      { name: 'throughput', loop: 'closed', clients: 64, seconds: 60, warmupSeconds: 5, hopProbe: false },
    ],
    gateway: { clients: 16, seconds: 15 },
    idle: { seconds: 30, settleSeconds: 10 },
    users: 200,
    products: 50,
    out: '/repo/bench-results',
    check: false,
  });
});

test('the command line: --hop-probe, --check, --phases in their order', (t) => {
  const probes = (...argv: string[]) => {
    const command = parseBenchArgs(argv);
    return command.command === 'run' ? command.orderPhases.map((p) => `${p.name}:${p.hopProbe}`) : [];
  };
  t.deepEqual(probes('--hop-probe', 'latency,throughput'), ['latency:true', 'throughput:true']);
  t.deepEqual(probes('--hop-probe', 'none'), ['latency:false', 'throughput:false']);
  t.deepEqual(probes('--hop-probe', ''), ['latency:false', 'throughput:false']);
  t.deepEqual(probes('--phases', 'throughput,latency', '--hop-probe', 'throughput'), ['throughput:true', 'latency:false']);
  t.like(parseBenchArgs(['--check', '--phases', 'latency', '--latency-warmup-seconds', '0']), {
    check: true,
    gateway: undefined,
    orderPhases: [{ name: 'latency', warmupSeconds: 0 }],
  });
  t.deepEqual(parseBenchArgs(['--help']), { command: 'help' });
  t.deepEqual(parseBenchArgs(['-h']), { command: 'help' });
  t.regex(benchUsage, /--check/);
  t.regex(benchUsage, /--hop-probe PHASES/);
});

test('the command line: what it does not understand is a usage error', (t) => {
  for (const argv of [
    ['--bogus'],
    ['latency'],
    ['--phases', 'latency,soak'],
    ['--hop-probe', 'gateway'],
    ['--latency-rate', '0'],
    ['--latency-rate', 'fast'],
    ['--throughput-clients', '1.5'],
    ['--throughput-seconds', ''],
    ['--latency-warmup-seconds', '-1'],
  ]) {
    t.throws(() => parseBenchArgs(argv), { instanceOf: UsageError }, argv.join(' '));
  }
  t.notThrows(() => parseBenchArgs(['--phases', 'gateway', '--latency-rate', 'fast']), 'an option of a phase not run is not read');
});

test('the plan printed before a run says where the hop probe runs and whether targets are enforced', (t) => {
  const command = parseBenchArgs([]) as BenchOptions & { command: 'run' };
  const plan = planLines(command).join('\n');
  t.regex(plan, /latency {5}open loop, 20 orders\/s for 30 s, at most 400 in flight, after a 90 s warm-up; hop probe on/);
  t.regex(plan, /throughput {2}closed loop, 64 clients for 60 s, after a 5 s warm-up; hop probe off/);
  t.regex(plan, /reported, not enforced/);
  const quiet = parseBenchArgs(['--hop-probe', 'none', '--check']) as BenchOptions & { command: 'run' };
  t.notRegex(planLines(quiet).join('\n'), /a consumer of the bench's own/);
  t.regex(planLines(quiet).join('\n'), /checked: a missed one makes the exit status 1/);
});

test('the idle phase: on by default after the order phases, and judged against the idle target', (t) => {
  t.like(parseBenchArgs(['--phases', 'idle', '--idle-seconds', '12']), { orderPhases: [], gateway: undefined, idle: { seconds: 12 } });
  t.is((parseBenchArgs(['--phases', 'throughput']) as BenchOptions).idle, undefined);
  t.throws(() => parseBenchArgs(['--idle-seconds', '0']), { instanceOf: UsageError });
  t.regex(planLines(parseBenchArgs([]) as BenchOptions).join('\n'), /idle {8}no orders for 30 s, after 10 s of quiet/);

  t.like(checkIdle(undefined), { phase: 'idle', verdict: 'not run' });
  t.like(checkIdle({ seconds: 30, cpuPercentOfOneCore: { connect: 14, stackTotal: 33.9 } }), { verdict: 'missed' });
  const met = checkIdle({ seconds: 30, cpuPercentOfOneCore: { connect: 3, stackTotal: 20 } });
  t.like(met, { verdict: 'met' });
  t.deepEqual(
    met.checks.map((c) => [c.figure, c.measured, c.limit]),
    [['stack CPU', 20, 25]],
  );
});

test('resident memory is read from the VmRSS line of /proc/<pid>/status, and from this very process', (t) => {
  t.is(statusRssKiB('Name:\tjava\nVmPeak:\t 4000000 kB\nVmRSS:\t  812340 kB\nRssAnon:\t  790000 kB\n'), 812_340);
  t.true(Number.isNaN(statusRssKiB('Name:\tkthreadd\n')), 'a kernel thread has no VmRSS line');
  // This process's own status: within a few MiB of what Node says it holds.
  const kib = statusRssKiB(readFileSync('/proc/self/status', 'utf8'));
  t.true(Math.abs(kib * 1024 - process.memoryUsage.rss()) < 32 * 1024 * 1024, `${kib} KiB against ${process.memoryUsage.rss()} bytes`);
});
