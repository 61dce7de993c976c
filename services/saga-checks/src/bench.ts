// npm run bench [-- options]: see `benchUsage` in bench/args.ts (`--help`). The phases' load is in bench/load.ts,
// what is read beside it (CPU from /proc, the CDC hop probe) in bench/probes.ts, the floors in bench/floors.ts,
// the figures, targets and summary in bench/report.ts. This file creates the fixtures, runs the phases in
// order, audits the bench's own orders and writes the report.
// Exit 0; 1 when the audit finds anything or (--check) a target was missed; 2 for a command line it does not understand.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { audit } from './audit.js';
import { benchUsage, parseBenchArgs, planLines, type BenchOptions, type OrderPhasePlan } from './bench/args.js';
import { measureFloors } from './bench/floors.js';
import { closedPhase, gatewayOverhead, openPhase, post, type Fixtures } from './bench/load.js';
import { hopProbe, idleCpu, stackRssMiB } from './bench/probes.js';
import {
  checkIdle,
  checkTargets,
  IDLE_TARGET_TEXT,
  summaryLines,
  TARGETS,
  type BenchReport,
  type IdleResult,
  type PhaseReport,
  type PhaseResult,
} from './bench/report.js';
import { closeDatabases, openDatabases } from './databases.js';
import { kafkaBrokers, UsageError } from './command-line.js';

const brokers = kafkaBrokers();

/** Users rich enough and products stocked enough that every bench order completes. */
async function fixtures(users: number, products: number): Promise<Fixtures> {
  const userIds: string[] = [];
  const productIds: string[] = [];
  for (let i = 0; i < users; i++) userIds.push((await post('/users', { name: `bench-user-${i}`, points: 1_000_000_000 })).body.id);
  for (let i = 0; i < products; i++) {
    productIds.push((await post('/products', { name: `bench-product-${i}`, price: 1, stock: 1_000_000_000 })).body.id);
  }
  return { userIds, productIds };
}

/** One order phase: its warm-up (not counted), then the phase, with the hop probe around both when asked. */
async function orderPhase(plan: OrderPhasePlan, kafka: Kafka, ids: Fixtures): Promise<PhaseReport> {
  const run = (label: string, seconds: number): Promise<PhaseResult> =>
    plan.loop === 'open' ? openPhase(label, plan.rate, seconds, plan.concurrency, ids) : closedPhase(label, plan.clients, seconds, ids);
  // Joined before the warm-up, so that the probe's own start-up is not in the phase.
  const hops = plan.hopProbe ? await hopProbe(kafka) : undefined;
  // JIT, connection pools and consumer fetch sessions warm up at the phase's own load first; not counted.
  if (plan.warmupSeconds > 0) await run(`${plan.name} warm-up`, plan.warmupSeconds);
  hops?.start();
  const result = await run(plan.name, plan.seconds);
  if (!hops) {
    console.log('  cdc hop: not measured (hop probe off in this phase)');
    return { ...result, hopProbe: false, cdcHopMs: null };
  }
  await sleep(1000); // the events of the last orders are still on their way to the probe
  const cdcHopMs = hops.take();
  await hops.stop();
  console.log(`  cdc hop (outbox write -> receipt) ms: ${JSON.stringify(cdcHopMs)}`);
  return { ...result, hopProbe: true, cdcHopMs };
}

async function bench(options: BenchOptions): Promise<number> {
  const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });
  for (const line of planLines(options)) console.log(line);
  console.log('▶ fixtures (users with plenty of points, products with plenty of stock)');
  const ids = await fixtures(options.users, options.products);
  const floors = await measureFloors(kafka);
  console.log(`✓ floors: ${JSON.stringify(floors)}`);
  const phases: PhaseReport[] = [];
  for (const plan of options.orderPhases) phases.push(await orderPhase(plan, kafka, ids));
  let idle: IdleResult | undefined;
  if (options.idle) {
    console.log(`▶ idle: ${options.idle.settleSeconds} s of quiet, then ${options.idle.seconds} s measured`);
    await sleep(options.idle.settleSeconds * 1000);
    idle = { seconds: options.idle.seconds, cpuPercentOfOneCore: await idleCpu(options.idle.seconds), rssMiB: stackRssMiB() };
    console.log(`  CPU % of one core: ${JSON.stringify(idle.cpuPercentOfOneCore)}`);
    console.log(`  resident memory, MiB: ${JSON.stringify(idle.rssMiB)}`);
  }
  let gatewayResult;
  if (options.gateway) {
    console.log('▶ gateway overhead');
    gatewayResult = await gatewayOverhead(ids.productIds[0]!, options.gateway.clients, options.gateway.seconds);
  }

  const dbs = openDatabases();
  const findings = await audit(dbs, { productIds: ids.productIds, userIds: ids.userIds, pendingGraceSeconds: 30 });
  await closeDatabases(dbs);

  const targetCheck = [
    ...checkTargets(
      TARGETS,
      options.orderPhases.map((settings, i) => ({ settings, result: phases[i]! })),
    ),
    checkIdle(idle),
  ];
  const report: BenchReport = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    floors,
    phases,
    gateway: gatewayResult,
    idle,
    targets: { ...Object.fromEntries(TARGETS.map((t) => [t.phase, t.text])), idle: IDLE_TARGET_TEXT },
    targetCheck,
    auditFindings: findings.length,
  };
  mkdirSync(options.out, { recursive: true });
  const file = join(options.out, `bench-${report.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  for (const line of summaryLines(report, file)) console.log(line);
  const missed = targetCheck.some((v) => v.verdict === 'missed');
  return findings.length > 0 || (options.check && missed) ? 1 : 0;
}

let command;
try {
  command = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`bench: ${error.message} (usage: npm run -s bench -w services/saga-checks -- --help)\n`);
  process.exit(2);
}
if (command.command === 'help') {
  console.log(benchUsage);
  process.exit(0);
}
process.exit(await bench(command));
