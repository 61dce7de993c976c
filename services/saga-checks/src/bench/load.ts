// The load: requests through the gateway, the open- and closed-loop schedulers that pace orders, the order
// phases built on them, and the gateway phase's closed loop of GETs. The schedulers take a clock so that
// their pacing and accounting are unit-tested on virtual time.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { mintToken, recordedPid, serviceInstanceUrls } from '@cdc-outbox-saga/local-stack';
import { cpuMeter, cpuSeconds } from './probes.js';
import { percentiles, type GatewayResult, type Outcomes, type PhaseResult, type RequestLoopResult } from './report.js';

const gateway = (process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');

/** Time in ms from an arbitrary origin, and a wait: `performance.now()` and a timer, or virtual time in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<unknown>;
}

const realClock: Clock = { now: () => performance.now(), sleep: (ms) => sleep(ms) };

/** An order sent more than this many ms after it was due is counted as late. */
export const LATE_MS = 10;

/** The user ids and product ids the bench's orders are placed with. */
export interface Fixtures {
  userIds: string[];
  productIds: string[];
}

const tokens = new Map<string, Promise<string>>();

/** A bearer token per subject, signed with the local stack's development key (as `npm run -s token`). */
export function tokenFor(subject: string): Promise<string> {
  let token = tokens.get(subject);
  if (!token) tokens.set(subject, (token = mintToken({ subject, ttlSeconds: 24 * 3600 })));
  return token;
}

/**
 * POSTs through the gateway as `subject`. Each bench user places its orders under a subject of its own,
 * as real clients would, so the gateway's per-subject rate limit is not what the bench measures; a 429
 * (setting up fixtures in a row) is waited out as its Retry-After says.
 */
export async function post(path: string, body: unknown, headers: Record<string, string> = {}, subject = 'bench-setup') {
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

/** Places the `i`-th order of a phase and waits (`Prefer: wait=30`) for its status; undefined when it failed. */
function placeOne(ids: Fixtures, i: number): Promise<string | undefined> {
  const userId = ids.userIds[i % ids.userIds.length]!;
  const productId = ids.productIds[(i * 7) % ids.productIds.length]!;
  return post(
    '/orders',
    { userId, items: [{ productId, quantity: 1 }] },
    { prefer: 'wait=30', 'idempotency-key': randomUUID() },
    `bench-${userId}`,
  )
    .then(({ body }) => body.status)
    .catch(() => undefined);
}

/** Tallies the outcome of each order: COMPLETED ones with their latency, CANCELLED, anything else. */
export function tally() {
  const counts: Outcomes = { completed: 0, cancelled: 0, other: 0, latencies: [] };
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

/** When the `i`-th order of an open loop at `rate` orders/s is due, in ms after the loop started. */
export function dueOffsetMs(i: number, rate: number): number {
  return (i * 1000) / rate;
}

/** What a scheduler ran: when it started (on its clock), the orders it placed, how many late, their outcomes. */
export interface LoopRun {
  started: number;
  placed: number;
  late: number;
  counts: Outcomes;
}

/**
 * Open loop: `rate` orders/s for `seconds`, at most `concurrency` in flight, each timed from when it was due,
 * not from when it was sent, so a stall of the generator or of the stack is not hidden (coordinated
 * omission); an order sent more than LATE_MS after it was due is counted as late.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  concurrency: number,
  send: (i: number) => Promise<string | undefined>,
  clock: Clock = realClock,
): Promise<LoopRun> {
  const total = Math.round(rate * seconds);
  const { counts, record } = tally();
  let inFlight = 0;
  let late = 0;
  const pending: Promise<void>[] = [];
  const started = clock.now();
  for (let i = 0; i < total; i++) {
    const due = started + dueOffsetMs(i, rate);
    const wait = due - clock.now();
    if (wait > 0) await clock.sleep(wait);
    while (inFlight >= concurrency) await clock.sleep(1);
    if (clock.now() - due > LATE_MS) late++;
    inFlight++;
    pending.push(
      send(i)
        .then((status) => record(status, clock.now() - due))
        .finally(() => {
          inFlight--;
        }),
    );
  }
  await Promise.all(pending);
  return { started, placed: total, late, counts };
}

/**
 * Closed loop: `clients` clients, each placing its next order when its last one is final, until `seconds`
 * have passed; each order timed from when it was sent. Orders sent before the end and answered after it
 * are counted (placed and tallied) too.
 */
export async function closedLoop(
  clients: number,
  seconds: number,
  send: (i: number) => Promise<string | undefined>,
  clock: Clock = realClock,
): Promise<LoopRun> {
  const { counts, record } = tally();
  let placed = 0;
  const started = clock.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (clock.now() < until) {
        const sent = clock.now();
        const status = await send(placed++);
        record(status, clock.now() - sent);
      }
    }),
  );
  return { started, placed, late: 0, counts };
}

/** Open-loop order phase through the gateway (see `openLoop`), with the stack's CPU per completed order. */
export async function openPhase(name: string, rate: number, seconds: number, concurrency: number, ids: Fixtures): Promise<PhaseResult> {
  console.log(`▶ ${name}: ${Math.round(rate * seconds)} orders at ${rate}/s for ${seconds}s (at most ${concurrency} in flight)`);
  const cpu = cpuMeter();
  const run = await openLoop(rate, seconds, concurrency, (i) => placeOne(ids, i));
  return finish(name, `${rate}/s`, run, cpu);
}

/** Closed-loop order phase through the gateway (see `closedLoop`), with the stack's CPU per completed order. */
export async function closedPhase(name: string, clients: number, seconds: number, ids: Fixtures): Promise<PhaseResult> {
  console.log(`▶ ${name}: ${clients} clients in a closed loop for ${seconds}s`);
  const cpu = cpuMeter();
  const run = await closedLoop(clients, seconds, (i) => placeOne(ids, i));
  return finish(name, `${clients} clients`, run, cpu);
}

function finish(name: string, offered: string, run: LoopRun, cpu: ReturnType<typeof cpuMeter>): PhaseResult {
  const { counts } = run;
  const elapsed = (performance.now() - run.started) / 1000;
  const result: PhaseResult = {
    phase: name,
    offered,
    seconds: Math.round(elapsed * 10) / 10,
    placed: run.placed,
    completed: counts.completed,
    cancelled: counts.cancelled,
    pendingOrFailed: counts.other,
    throughputPerSecond: Math.round((counts.completed / elapsed) * 10) / 10,
    endToEndMs: percentiles(counts.latencies),
    late: run.late,
    cpuMsPerOrder: cpu.perOrder(counts.completed),
  };
  console.log(`✓ ${name}: ${JSON.stringify(result)}`);
  return result;
}

/** `clients` loops GETting `url` back to back for `seconds`; requests/s and latency. */
async function getLoop(
  url: (client: number) => string,
  headers: (client: number) => Promise<Record<string, string>>,
  clients: number,
  seconds: number,
): Promise<RequestLoopResult> {
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
export async function gatewayOverhead(productId: string, clients: number, seconds: number): Promise<GatewayResult> {
  const direct = Object.entries(serviceInstanceUrls()).find(([name]) => name.startsWith('product-'))![1];
  const gatewayPid = recordedPid('gateway');
  // The same token straight to the instance too: the service verifies it itself (from its cache after the first).
  const asClient = async (client: number) => ({ authorization: `Bearer ${await tokenFor(`bench-gateway-${client}`)}` });
  await getLoop(() => `${direct}/products/${productId}`, asClient, clients, 2);
  const straight = await getLoop(() => `${direct}/products/${productId}`, asClient, clients, seconds);
  await getLoop(() => `${gateway}/api/products/${productId}`, asClient, clients, 2);
  const cpuBefore = gatewayPid ? cpuSeconds(gatewayPid) : NaN;
  const through = await getLoop(() => `${gateway}/api/products/${productId}`, asClient, clients, seconds);
  const cpu = gatewayPid ? cpuSeconds(gatewayPid) - cpuBefore : NaN;
  const result: GatewayResult = {
    clients,
    seconds,
    direct: straight,
    throughGateway: through,
    addedMs: {
      p50: Math.round((through.ms.p50 - straight.ms.p50) * 10) / 10,
      p99: Math.round((through.ms.p99 - straight.ms.p99) * 10) / 10,
    },
    gatewayCpuMsPerRequest: Math.round(((cpu * 1000) / (through.requestsPerSecond * seconds)) * 100) / 100,
  };
  console.log(`  gateway: ${JSON.stringify(result)}`);
  return result;
}
