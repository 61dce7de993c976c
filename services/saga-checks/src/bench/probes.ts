// What the bench reads beside its load: the CPU time of every stack process from /proc, and (when asked)
// one CDC hop per event from a consumer of its own. The probe is load too (a consumer fetching from all
// three topics costs the broker CPU per fetch), which is why the bench turns it on only where asked.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from 'kafkajs';
import { Topics } from '@cdc-outbox-saga/platform';
import { recordedNames, recordedPid } from '@cdc-outbox-saga/local-stack';
import { percentiles, type Percentiles } from './report.js';

const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

/** The topics the hop probe reads. */
export const HOP_PROBE_TOPICS: string[] = [Topics.order, Topics.product, Topics.user];

/** CPU seconds (user + system) in the text of a /proc/<pid>/stat (Linux, 100 ticks/s). */
export function statCpuSeconds(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime: fields 14 and 15 of the line
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/**
 * `read(pid)` for every process the stack's pid files name, by process name (`order-1`, `kafka`); a process
 * that is not running (any more) is left out.
 */
function eachStackProcess<T>(read: (pid: number) => T): Map<string, T> {
  const values = new Map<string, T>();
  for (const name of recordedNames()) {
    const pid = recordedPid(name);
    if (pid === undefined) continue;
    try {
      values.set(name, read(pid));
    } catch {
      /* gone meanwhile: not part of this reading */
    }
  }
  return values;
}

/** CPU seconds so far of every process the stack's pid files name, by process name (`order-1`, `kafka`). */
export function readStackCpu(): Map<string, number> {
  return eachStackProcess(cpuSeconds);
}

/** The component a process belongs to: a service's instances (`order-1`, `order-2`) count as one. */
const component = (name: string) => name.replace(/-\d+$/, '');

/**
 * CPU ms per completed order between two readings of the stack: per component (largest first), their sum as
 * `stackTotal`, and the load generator's own `generatorSeconds` as `loadGenerator`, each rounded to 0.01 ms.
 * A process in only one of the readings (started or gone in between) is left out. NaN when nothing completed.
 */
export function cpuMsPerOrder(
  before: Map<string, number>,
  after: Map<string, number>,
  generatorSeconds: number,
  completed: number,
): Record<string, number> {
  const totals = new Map<string, number>();
  for (const [name, now] of after) {
    const then = before.get(name);
    if (then === undefined) continue;
    totals.set(component(name), (totals.get(component(name)) ?? 0) + (now - then));
  }
  const perOrder = (cpuSecondsUsed: number) => (completed > 0 ? Math.round(((cpuSecondsUsed * 1000) / completed) * 100) / 100 : NaN);
  const result: Record<string, number> = {};
  for (const [name, used] of [...totals].sort((a, b) => b[1] - a[1])) result[name] = perOrder(used);
  result.stackTotal = perOrder([...totals.values()].reduce((a, b) => a + b, 0));
  result.loadGenerator = perOrder(generatorSeconds);
  return result;
}

/** The CPU used by each stack component (and by this load generator) between its creation and `perOrder`. */
export function cpuMeter() {
  const before = readStackCpu();
  const generatorBefore = process.cpuUsage();
  return {
    perOrder(completed: number): Record<string, number> {
      const after = readStackCpu();
      const generator = process.cpuUsage(generatorBefore);
      return cpuMsPerOrder(before, after, (generator.user + generator.system) / 1e6, completed);
    },
  };
}

/** Each component's CPU in % of one core over `seconds` of wall time from now (instances added up), and their sum. */
export async function idleCpu(seconds: number): Promise<Record<string, number>> {
  const before = readStackCpu();
  const started = performance.now();
  await sleep(seconds * 1000);
  const after = readStackCpu();
  const elapsedSeconds = (performance.now() - started) / 1000;
  // ms of CPU per second of wall time, divided by 10, is % of one core.
  const msPerSecond = cpuMsPerOrder(before, after, 0, elapsedSeconds);
  delete msPerSecond.loadGenerator;
  return Object.fromEntries(Object.entries(msPerSecond).map(([name, ms]) => [name, Math.round(ms * 10) / 100]));
}

/** Resident memory in KiB in the text of a /proc/<pid>/status (its VmRSS line), NaN without one. */
export function statusRssKiB(status: string): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) : NaN;
}

/**
 * Resident memory now of every process the stack's pid files name, in MiB per component (a service's
 * instances, a cluster's nodes, summed), largest first, their sum as `stackTotal`.
 */
export function stackRssMiB(): Record<string, number> {
  const totals = new Map<string, number>();
  for (const [name, kib] of eachStackProcess((pid) => statusRssKiB(readFileSync(`/proc/${pid}/status`, 'utf8')))) {
    if (Number.isFinite(kib)) totals.set(component(name), (totals.get(component(name)) ?? 0) + kib);
  }
  const sorted = [...totals].sort((a, b) => b[1] - a[1]);
  const mib = (kib: number) => Math.round(kib / 1024);
  return {
    ...Object.fromEntries(sorted.map(([name, kib]) => [name, mib(kib)])),
    stackTotal: mib(sorted.reduce((sum, [, kib]) => sum + kib, 0)),
  };
}

/** A consumer timing CDC hops: `start` clears and records, `take` stops recording and sums up, `stop` leaves. */
export interface HopProbe {
  start(): void;
  take(): Percentiles;
  stop(): Promise<void>;
}

/**
 * The hop probe: a consumer in a group of its own on the three saga topics, from their current end, that
 * records per event its receipt time minus the payload's occurredAt (one CDC hop: outbox write to receipt).
 * Resolves once the group is joined; it fetches from then on, recording or not, until `stop`.
 */
export async function hopProbe(kafka: Kafka): Promise<HopProbe> {
  const registry = new SchemaRegistry({ host: registryUrl });
  const hops: number[] = [];
  const consumer = kafka.consumer({ groupId: `bench-hops-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: HOP_PROBE_TOPICS, fromBeginning: false });
  let recording = false;
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  await consumer.run({
    partitionsConsumedConcurrently: 9,
    eachMessage: async ({ message }) => {
      const receivedAt = Date.now();
      if (!recording || !message.value) return;
      const payload = (await registry.decode(message.value)) as { occurredAt?: number };
      if (typeof payload.occurredAt === 'number') hops.push(receivedAt - payload.occurredAt);
    },
  });
  while (!joined) await sleep(50);
  return {
    start: () => {
      hops.length = 0;
      recording = true;
    },
    take: () => {
      recording = false;
      return percentiles(hops);
    },
    stop: () => consumer.disconnect(),
  };
}
