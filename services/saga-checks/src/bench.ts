import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel } from 'kafkajs';
import { mintToken, recordedNames, recordedPid, serviceInstanceUrls } from '@cdc-outbox-saga/local-stack';
import { audit } from './audit.js';
import { closeDatabases, openDatabases } from './databases.js';

/**
 * npm run bench [-- --phases latency,throughput,gateway --latency-rate 20 --latency-seconds 30
 *                   --throughput-clients 64 --throughput-seconds 60 --concurrency 400
 *                   --latency-warmup-seconds 90 --throughput-warmup-seconds 5]
 *
 * Two order phases through the gateway, each order with `Prefer: wait=30`, timed to its final state:
 * - latency: open loop at a fixed rate (bounded by --concurrency). Latency is counted from when an order
 *   was due, not from when it was sent, so a stall of the generator or of the stack is not hidden
 *   (coordinated omission); an order sent more than 10 ms after it was due is counted as late.
 * - throughput: closed loop, --throughput-clients clients each placing its next order as soon as the
 *   last one finished: what the stack completes per second when it is the bottleneck.
 * For each phase it reads the CPU time of every stack process from /proc/<pid>/stat before and after,
 * and reports CPU ms per completed order per component (and the load generator's own separately).
 * Meanwhile it reads the three topics itself and times every event from its outbox write (the
 * payload's occurredAt) to its receipt: one CDC hop. In the same run it measures the floors below the
 * saga: one durable MariaDB transaction and a kafkajs produce -> consume round trip on the same broker.
 * The `gateway` phase (--gateway-seconds, --gateway-clients) measures what the gateway adds to a
 * request: the same GET straight to a product instance and through the gateway, closed loop, with the
 * gateway's CPU per request from /proc. Figures go to stdout and bench-results/*.json.
 */
const { values: args } = parseArgs({
  options: {
    phases: { type: 'string', default: 'latency,throughput,gateway' },
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
    out: { type: 'string', default: resolve(process.cwd(), '../../bench-results') },
  },
});

const gateway = (process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

function percentiles(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
  const round = (v: number) => Math.round(v * 10) / 10;
  return { count: sorted.length, p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), max: round(sorted.at(-1) ?? NaN) };
}

const tokens = new Map<string, Promise<string>>();

/** A bearer token per subject, signed with the local stack's development key (as `npm run -s token`). */
function tokenFor(subject: string): Promise<string> {
  let token = tokens.get(subject);
  if (!token) tokens.set(subject, (token = mintToken({ subject, ttlSeconds: 24 * 3600 })));
  return token;
}

/**
 * POSTs through the gateway as `subject`. Each bench user places its orders under a subject of its own,
 * as real clients would, so the gateway's per-subject rate limit is not what the bench measures; a 429
 * (setting up fixtures in a row) is waited out as its Retry-After says.
 */
async function post(path: string, body: unknown, headers: Record<string, string> = {}, subject = 'bench-setup') {
  for (;;) {
    const response = await fetch(`${gateway}/api${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(subject)}`, ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    if (response.status === 429) {
      await response.arrayBuffer();
      await sleep(Number(response.headers.get('retry-after') ?? 1) * 1000);
      continue;
    }
    return { status: response.status, body: (await response.json()) as { id: string; status: string; reason?: string } };
  }
}

/** Users rich enough and products stocked enough that every bench order completes. */
async function fixtures(users: number, products: number) {
  const userIds: string[] = [];
  const productIds: string[] = [];
  for (let i = 0; i < users; i++) userIds.push((await post('/users', { name: `bench-user-${i}`, points: 1_000_000_000 })).body.id);
  for (let i = 0; i < products; i++) {
    productIds.push((await post('/products', { name: `bench-product-${i}`, price: 1, stock: 1_000_000_000 })).body.id);
  }
  return { userIds, productIds };
}

interface PhaseResult {
  phase: string;
  /** Orders per second offered (open loop), or the number of clients (closed loop). */
  offered: string;
  seconds: number;
  placed: number;
  completed: number;
  cancelled: number;
  pendingOrFailed: number;
  throughputPerSecond: number;
  endToEndMs: ReturnType<typeof percentiles>;
  /** Open loop: orders sent more than 10 ms after they were due (the generator or the stack fell behind). */
  late: number;
  /** CPU ms per completed order, per component (instances of a service added up) and for the generator. */
  cpuMsPerOrder: Record<string, number>;
}

const LATE_MS = 10;

/** Tallies the outcome of one order. */
function tally() {
  const counts = { completed: 0, cancelled: 0, other: 0, latencies: [] as number[] };
  return {
    counts,
    record(status: string | undefined, ms: number) {
      if (status === 'COMPLETED') {
        counts.completed++;
        counts.latencies.push(ms);
      } else if (status === 'CANCELLED') counts.cancelled++;
      else counts.other++;
    },
  };
}

function placeOne(ids: { userIds: string[]; productIds: string[] }, i: number) {
  const userId = ids.userIds[i % ids.userIds.length]!;
  const productId = ids.productIds[(i * 7) % ids.productIds.length]!;
  return post('/orders', { userId, items: [{ productId, quantity: 1 }] }, { prefer: 'wait=30', 'idempotency-key': randomUUID() }, `bench-${userId}`)
    .then(({ body }) => body.status)
    .catch(() => undefined);
}

/** Open loop: `rate` orders/s for `seconds`, each timed from when it was due. */
async function openPhase(name: string, rate: number, seconds: number, concurrency: number, ids: { userIds: string[]; productIds: string[] }): Promise<PhaseResult> {
  const total = Math.round(rate * seconds);
  const { counts, record } = tally();
  let inFlight = 0;
  let late = 0;
  const pending: Promise<void>[] = [];
  console.log(`▶ ${name}: ${total} orders at ${rate}/s for ${seconds}s (at most ${concurrency} in flight)`);
  const cpu = cpuMeter();
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight >= concurrency) await sleep(1);
    if (performance.now() - due > LATE_MS) late++;
    inFlight++;
    pending.push(
      placeOne(ids, i)
        .then((status) => record(status, performance.now() - due))
        .finally(() => {
          inFlight--;
        }),
    );
  }
  await Promise.all(pending);
  return finish(name, `${rate}/s`, started, total, counts, late, cpu);
}

/** Closed loop: `clients` clients, each placing its next order when its last one is final, for `seconds`. */
async function closedPhase(name: string, clients: number, seconds: number, ids: { userIds: string[]; productIds: string[] }): Promise<PhaseResult> {
  const { counts, record } = tally();
  let placed = 0;
  console.log(`▶ ${name}: ${clients} clients in a closed loop for ${seconds}s`);
  const cpu = cpuMeter();
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const sent = performance.now();
        const status = await placeOne(ids, placed++);
        record(status, performance.now() - sent);
      }
    }),
  );
  return finish(name, `${clients} clients`, started, placed, counts, 0, cpu);
}

function finish(
  name: string,
  offered: string,
  started: number,
  placed: number,
  counts: ReturnType<typeof tally>['counts'],
  late: number,
  cpu: ReturnType<typeof cpuMeter>,
): PhaseResult {
  const elapsed = (performance.now() - started) / 1000;
  const result: PhaseResult = {
    phase: name,
    offered,
    seconds: Math.round(elapsed * 10) / 10,
    placed,
    completed: counts.completed,
    cancelled: counts.cancelled,
    pendingOrFailed: counts.other,
    throughputPerSecond: Math.round((counts.completed / elapsed) * 10) / 10,
    endToEndMs: percentiles(counts.latencies),
    late,
    cpuMsPerOrder: cpu.perOrder(counts.completed),
  };
  console.log(`✓ ${name}: ${JSON.stringify(result)}`);
  return result;
}

/**
 * CPU used by each stack process (and by this load generator) between its creation and `perOrder`.
 * Processes are found by the stack's pid files; a service's instances are added up under its name.
 */
function cpuMeter() {
  const component = (name: string) => name.replace(/-\d+$/, '');
  const readAll = () => {
    const seconds = new Map<string, number>();
    for (const name of recordedNames()) {
      const pid = recordedPid(name);
      if (pid === undefined) continue;
      try {
        seconds.set(name, cpuSeconds(pid));
      } catch {
        /* not running (any more): not part of this phase */
      }
    }
    return seconds;
  };
  const before = readAll();
  const generatorBefore = process.cpuUsage();
  return {
    perOrder(completed: number): Record<string, number> {
      const totals = new Map<string, number>();
      for (const [name, now] of readAll()) {
        const then = before.get(name);
        if (then === undefined) continue;
        totals.set(component(name), (totals.get(component(name)) ?? 0) + (now - then));
      }
      const generator = process.cpuUsage(generatorBefore);
      const perOrder = (cpuSecondsUsed: number) => (completed > 0 ? Math.round(((cpuSecondsUsed * 1000) / completed) * 100) / 100 : NaN);
      const result: Record<string, number> = {};
      for (const [name, used] of [...totals].sort((a, b) => b[1] - a[1])) result[name] = perOrder(used);
      result.stackTotal = perOrder([...totals.values()].reduce((a, b) => a + b, 0));
      result.loadGenerator = perOrder((generator.user + generator.system) / 1e6);
      return result;
    },
  };
}

/** Reads the saga topics from their current end and records, per event, receipt minus occurredAt. */
async function hopRecorder(kafka: Kafka) {
  const registry = new SchemaRegistry({ host: registryUrl });
  const hops: number[] = [];
  const consumer = kafka.consumer({ groupId: `bench-hops-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: ['order.events', 'product.events', 'user.events'], fromBeginning: false });
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

/** Floor 1: a transaction inserting one row, committed durably (sync_binlog=1, flush at commit). */
async function databaseFloor(samples = 300) {
  // The migration account: the floor's table is made and dropped here.
  const dbs = openDatabases('migration');
  const table = `bench_floor_${randomUUID().slice(0, 8)}`;
  try {
    await dbs.order.schema.createTable(table, (t) => {
      t.string('id', 36).primary();
      t.binary('payload', 200);
    });
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const start = performance.now();
      await dbs.order.transaction((trx) => trx(table).insert({ id: randomUUID(), payload: Buffer.alloc(100) }));
      times.push(performance.now() - start);
    }
    return percentiles(times);
  } finally {
    await dbs.order.schema.dropTableIfExists(table);
    await closeDatabases(dbs);
  }
}

/** Floor 2: kafkajs produce (acks=all) -> consume on the same broker, one message at a time. */
async function kafkaFloor(kafka: Kafka, samples = 300) {
  const topic = `bench-rtt-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `bench-rtt-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const arrivals = new Map<string, () => void>();
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  await consumer.run({ eachMessage: async ({ message }) => arrivals.get(message.key!.toString())?.() });
  while (!joined) await sleep(50);
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const key = String(i);
      const arrived = new Promise<void>((resolveArrival) => arrivals.set(key, resolveArrival));
      const start = performance.now();
      await producer.send({ topic, acks: -1, messages: [{ key, value: 'x' }] });
      await arrived;
      times.push(performance.now() - start);
    }
  } finally {
    await producer.disconnect();
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  return percentiles(times.slice(10)); // the first few include connection set-up
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (Linux, 100 ticks/s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime: fields 14 and 15 of the line
}

/** `clients` loops GETting `url` back to back for `seconds`; requests/s and latency. */
async function closedLoop(url: (client: number) => string, headers: (client: number) => Promise<Record<string, string>>, clients: number, seconds: number) {
  const times: number[] = [];
  let failed = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const h = await headers(client);
      while (performance.now() < until) {
        const start = performance.now();
        const response = await fetch(url(client), { headers: h });
        await response.arrayBuffer();
        if (response.status === 200) times.push(performance.now() - start);
        else failed++;
      }
    }),
  );
  return { requestsPerSecond: Math.round(times.length / seconds), failed, ms: percentiles(times) };
}

/**
 * What the gateway adds: GET /products/:id straight to one product instance, then through the gateway
 * (authentication, rate limit, routing, proxying to the same service's instances), each closed loop with
 * the same number of clients. One subject per client keeps the per-subject rate limit out of the figure.
 */
async function gatewayOverhead(productId: string, clients: number, seconds: number) {
  const direct = Object.entries(serviceInstanceUrls()).find(([name]) => name.startsWith('product-'))![1];
  const gatewayPid = recordedPid('gateway');
  // The same token straight to the instance too: the service verifies it itself (from its cache after the first).
  const asClient = async (client: number) => ({ authorization: `Bearer ${await tokenFor(`bench-gateway-${client}`)}` });
  await closedLoop(() => `${direct}/products/${productId}`, asClient, clients, 2);
  const straight = await closedLoop(() => `${direct}/products/${productId}`, asClient, clients, seconds);
  await closedLoop(() => `${gateway}/api/products/${productId}`, asClient, clients, 2);
  const cpuBefore = gatewayPid ? cpuSeconds(gatewayPid) : NaN;
  const through = await closedLoop(() => `${gateway}/api/products/${productId}`, asClient, clients, seconds);
  const cpu = gatewayPid ? cpuSeconds(gatewayPid) - cpuBefore : NaN;
  const result = {
    clients,
    seconds,
    direct: straight,
    throughGateway: through,
    addedMs: { p50: Math.round((through.ms.p50 - straight.ms.p50) * 10) / 10, p99: Math.round((through.ms.p99 - straight.ms.p99) * 10) / 10 },
    gatewayCpuMsPerRequest: Math.round(((cpu * 1000) / (through.requestsPerSecond * seconds)) * 100) / 100,
  };
  console.log(`  gateway: ${JSON.stringify(result)}`);
  return result;
}

const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });
const phases = args.phases.split(',').map((p) => p.trim());
const concurrency = Number(args.concurrency);
console.log('▶ fixtures (users with plenty of points, products with plenty of stock)');
const ids = await fixtures(Number(args.users), Number(args.products));
const floors = { mysqlDurableTxMs: await databaseFloor(), kafkaRoundTripMs: await kafkaFloor(kafka) };
console.log(`✓ floors: ${JSON.stringify(floors)}`);
const hops = await hopRecorder(kafka);
const results: Array<PhaseResult & { cdcHopMs: ReturnType<typeof percentiles> }> = [];
const orderPhases = phases.filter((name) => name !== 'gateway');
for (const name of orderPhases) {
  const latency = name === 'latency';
  const seconds = Number(latency ? args['latency-seconds'] : args['throughput-seconds']);
  const run = (label: string, secs: number) =>
    latency
      ? openPhase(label, Number(args['latency-rate']), secs, concurrency, ids)
      : closedPhase(label, Number(args['throughput-clients']), secs, ids);
  // JIT, connection pools and consumer fetch sessions warm up at the phase's own load first; not counted.
  const warmup = Number(latency ? args['latency-warmup-seconds'] : args['throughput-warmup-seconds']);
  if (warmup > 0) await run(`${name} warm-up`, warmup);
  hops.start();
  const result = await run(name, seconds);
  await sleep(1000);
  results.push({ ...result, cdcHopMs: hops.take() });
  console.log(`  cdc hop (outbox write -> receipt) ms: ${JSON.stringify(results.at(-1)!.cdcHopMs)}`);
}
await hops.stop();
const gatewayResult = phases.includes('gateway')
  ? (console.log('▶ gateway overhead'), await gatewayOverhead(ids.productIds[0]!, Number(args['gateway-clients']), Number(args['gateway-seconds'])))
  : undefined;

const dbs = openDatabases();
const findings = await audit(dbs, { productIds: ids.productIds, userIds: ids.userIds, pendingGraceSeconds: 30 });
await closeDatabases(dbs);

const report = {
  at: new Date().toISOString(),
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  floors,
  phases: results,
  gateway: gatewayResult,
  targets: {
    latency: 'at 20 orders/s (open loop): end-to-end p50 <= 60 ms, p99 <= 150 ms',
    throughput: 'closed loop, 64 clients, 60 s: >= 300 completed orders/s with p99 <= 1 s, every order COMPLETED',
  },
  auditFindings: findings.length,
};
mkdirSync(args.out, { recursive: true });
const file = join(args.out, `bench-${report.at.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(report, null, 2));
console.log('\nsummary');
for (const r of results) {
  console.log(
    `  ${r.phase.padEnd(10)} offered ${r.offered}  completed ${r.throughputPerSecond}/s  e2e p50 ${r.endToEndMs.p50} ms  p95 ${r.endToEndMs.p95} ms  p99 ${r.endToEndMs.p99} ms  cdc hop p50 ${r.cdcHopMs.p50} ms p99 ${r.cdcHopMs.p99} ms  (not completed: ${r.cancelled + r.pendingOrFailed}, late: ${r.late})`,
  );
  console.log(`             CPU ms per completed order: ${Object.entries(r.cpuMsPerOrder).map(([name, ms]) => `${name} ${ms}`).join(', ')}`);
}
if (gatewayResult) {
  const { direct, throughGateway: via } = gatewayResult;
  console.log(
    `  gateway    GET, ${gatewayResult.clients} clients: direct ${direct.requestsPerSecond}/s p50 ${direct.ms.p50} ms p99 ${direct.ms.p99} ms; through the gateway ${via.requestsPerSecond}/s p50 ${via.ms.p50} ms p99 ${via.ms.p99} ms (+${gatewayResult.addedMs.p50} ms p50); gateway CPU ${gatewayResult.gatewayCpuMsPerRequest} ms/request`,
  );
}
console.log(`  floors     durable MariaDB tx p50 ${floors.mysqlDurableTxMs.p50} ms  kafkajs produce->consume p50 ${floors.kafkaRoundTripMs.p50} ms`);
console.log(`  audit      ${findings.length === 0 ? 'clean' : `${findings.length} finding(s)`}`);
console.log(`written to ${file}`);
process.exit(findings.length === 0 ? 0 : 1);
