import test from 'ava';
import { abTableLines, compareRuns, figuresOf, type AbRun } from '../../src/bench/ab-report.js';
import { percentiles, type BenchReport } from '../../src/bench/report.js';

const report: BenchReport = {
  at: '2026-12-06T12:00:00.000Z',
  machine: { cpus: 2, node: 'v20.0.0' },
  floors: { mysqlDurableTxMs: percentiles([1.3]), kafkaRoundTripMs: percentiles([9.3]) },
  phases: [
    {
      phase: 'throughput',
      offered: '64 clients',
      seconds: 60,
      placed: 6000,
      completed: 6000,
      cancelled: 0,
      pendingOrFailed: 0,
      throughputPerSecond: 100,
      endToEndMs: { count: 6000, p50: 600, p95: 1000, p99: 1200, max: 1300 },
      late: 0,
      cpuMsPerOrder: { connect: 3.3, kafka: 2.5, stackTotal: 16, loadGenerator: 0.9 },
      hopProbe: false,
      cdcHopMs: null,
    },
  ],
  gateway: undefined,
  idle: { seconds: 30, cpuPercentOfOneCore: { connect: 14.3, stackTotal: 33.9 } },
  targets: {},
  targetCheck: [],
  auditFindings: 0,
};

test("a report's figures are named by phase; the load generator and unmeasured figures are left out", (t) => {
  t.deepEqual(figuresOf(report), {
    'throughput orders/s': 100,
    'throughput p50 ms': 600,
    'throughput p99 ms': 1200,
    'throughput CPU ms/order connect': 3.3,
    'throughput CPU ms/order kafka': 2.5,
    'throughput CPU ms/order stackTotal': 16,
    'idle % core connect': 14.3,
    'idle % core stackTotal': 33.9,
    'floor MariaDB tx p50 ms': 1.3,
    'floor Kafka round trip p50 ms': 9.3,
  });
});

test('a difference counts only when it is larger than the spread of either side', (t) => {
  const runs: AbRun[] = [
    { side: 'A', run: 1, figures: { 'throughput orders/s': 100, 'idle % core stackTotal': 34, 'only in A': 1 } },
    { side: 'B', run: 1, figures: { 'throughput orders/s': 104, 'idle % core stackTotal': 20 } },
    { side: 'A', run: 2, figures: { 'throughput orders/s': 95, 'idle % core stackTotal': 33 } },
    { side: 'B', run: 2, figures: { 'throughput orders/s': 101, 'idle % core stackTotal': 21 } },
  ];
  const rows = compareRuns(runs);
  t.deepEqual(
    rows.map((r) => [r.figure, r.meanA, r.meanB, r.delta, r.verdict]),
    [
      ['throughput orders/s', 97.5, 102.5, 5, 'within the spread'],
      ['idle % core stackTotal', 33.5, 20.5, -13, 'B better'],
    ],
    'the spread of A (5/s) swallows a 5/s gain; less idle CPU is better',
  );
  const worse = compareRuns([
    { side: 'A', run: 1, figures: { 'throughput orders/s': 100 } },
    { side: 'B', run: 1, figures: { 'throughput orders/s': 90 } },
  ]);
  t.is(worse[0]!.verdict, 'no spread (one run)', 'one run a side is not judged');
  const worseTwice = compareRuns([
    { side: 'A', run: 1, figures: { 'throughput orders/s': 100 } },
    { side: 'B', run: 1, figures: { 'throughput orders/s': 90 } },
    { side: 'A', run: 2, figures: { 'throughput orders/s': 101 } },
    { side: 'B', run: 2, figures: { 'throughput orders/s': 91 } },
  ]);
  t.is(worseTwice[0]!.verdict, 'B worse', 'fewer orders/s is worse');
  const text = abTableLines(rows, { a: 'base', b: 'head' }).join('\n');
  t.regex(text, /^A = base\nB = head/);
  t.regex(text, /idle % core stackTotal +34 \/ 33 +20 \/ 21 +33\.5 +20\.5 +-13 {2}B better \(1, 1\)/);
});
