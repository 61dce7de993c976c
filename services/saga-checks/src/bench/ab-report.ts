// The figures `npm run bench:ab` compares, taken from the JSON reports of `npm run bench`, and the side-by-side
// table it prints. Nothing here runs anything, so all of it is unit-tested.
import type { BenchReport } from './report.js';

/** One run of one side, reduced to the figures the table compares. */
export interface AbRun {
  side: 'A' | 'B';
  /** 1-based, per side. */
  run: number;
  figures: Record<string, number>;
}

/**
 * The figures of one bench report, by a name that says the phase: `throughput orders/s`, `latency p99 ms`,
 * `throughput CPU ms/order stackTotal`, `idle % core kafka`. A figure the run did not measure is absent.
 */
export function figuresOf(report: BenchReport): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const phase of report.phases) {
    figures[`${phase.phase} orders/s`] = phase.throughputPerSecond;
    figures[`${phase.phase} p50 ms`] = phase.endToEndMs.p50;
    figures[`${phase.phase} p99 ms`] = phase.endToEndMs.p99;
    if (phase.cdcHopMs) figures[`${phase.phase} cdc hop p50 ms`] = phase.cdcHopMs.p50;
    for (const [component, ms] of Object.entries(phase.cpuMsPerOrder)) {
      if (component !== 'loadGenerator') figures[`${phase.phase} CPU ms/order ${component}`] = ms;
    }
  }
  for (const [component, percent] of Object.entries(report.idle?.cpuPercentOfOneCore ?? {})) {
    figures[`idle % core ${component}`] = percent;
  }
  if (report.gateway) figures['gateway CPU ms/request'] = report.gateway.gatewayCpuMsPerRequest;
  figures['floor MariaDB tx p50 ms'] = report.floors.mysqlDurableTxMs.p50;
  figures['floor Kafka round trip p50 ms'] = report.floors.kafkaRoundTripMs.p50;
  return figures;
}

/** Per figure: each side's runs, their mean and spread (max - min), and B's mean minus A's. */
export interface AbRow {
  figure: string;
  a: number[];
  b: number[];
  meanA: number;
  meanB: number;
  spreadA: number;
  spreadB: number;
  delta: number;
  /**
   * `B better`, `B worse` or `within the spread`: a difference no larger than either side's spread is no
   * difference. `no spread (one run)` when a side has a single run: nothing to judge the difference against.
   */
  verdict: string;
}

const LOWER_IS_BETTER = (figure: string) => !figure.endsWith('orders/s');
const round = (value: number) => Math.round(value * 100) / 100;
const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);
const spread = (values: number[]) => (values.length ? Math.max(...values) - Math.min(...values) : NaN);

/** The rows of the comparison, in the order the figures first appear; figures only one side measured are left out. */
export function compareRuns(runs: AbRun[]): AbRow[] {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.figures)))];
  const rows: AbRow[] = [];
  for (const figure of names) {
    const of = (side: 'A' | 'B') =>
      runs.filter((r) => r.side === side && Number.isFinite(r.figures[figure])).map((r) => r.figures[figure]!);
    const a = of('A');
    const b = of('B');
    if (a.length === 0 || b.length === 0) continue;
    const [meanA, meanB, spreadA, spreadB] = [mean(a), mean(b), spread(a), spread(b)];
    const delta = meanB - meanA;
    const noise = Math.max(spreadA, spreadB);
    const better = LOWER_IS_BETTER(figure) ? delta < 0 : delta > 0;
    const verdict =
      a.length < 2 || b.length < 2
        ? 'no spread (one run)'
        : Math.abs(delta) <= noise || delta === 0
          ? 'within the spread'
          : better
            ? 'B better'
            : 'B worse';
    rows.push({
      figure,
      a,
      b,
      meanA: round(meanA),
      meanB: round(meanB),
      spreadA: round(spreadA),
      spreadB: round(spreadB),
      delta: round(delta),
      verdict,
    });
  }
  return rows;
}

/** The table printed at the end of `npm run bench:ab`, one line per figure. */
export function abTableLines(rows: AbRow[], labels: { a: string; b: string }): string[] {
  const width = Math.max(10, ...rows.map((r) => r.figure.length));
  const runs = (values: number[]) => values.map((v) => String(round(v))).join(' / ');
  const lines = [
    `A = ${labels.a}`,
    `B = ${labels.b}`,
    '',
    `${'figure'.padEnd(width)}  ${'A runs'.padEnd(20)} ${'B runs'.padEnd(20)} ${'mean A'.padStart(9)} ${'mean B'.padStart(9)} ${'B - A'.padStart(9)}  verdict (spread A, B)`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.figure.padEnd(width)}  ${runs(r.a).padEnd(20)} ${runs(r.b).padEnd(20)} ${String(r.meanA).padStart(9)} ${String(r.meanB).padStart(9)} ${String(r.delta).padStart(9)}  ${r.verdict} (${r.spreadA}, ${r.spreadB})`,
    );
  }
  return lines;
}
