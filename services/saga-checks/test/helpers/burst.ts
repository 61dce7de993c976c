import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import type { Knex } from 'knex';
import { api, type Items } from './api.js';

export interface PlannedOrder {
  userId: string;
  items: Items;
}

export interface BurstResult {
  /** Ids of the orders the gateway accepted (201/202), in plan order. */
  accepted: string[];
  /** Requests answered 5xx or not answered at all, each retried with the same Idempotency-Key. */
  retried: number;
}

/**
 * Places one order through the gateway as a careful client would: an answer 5xx or no answer at all (the
 * gateway itself restarting) is sent again with the same Idempotency-Key after a short pause, until it is
 * accepted or `giveUpAt` has passed. A 4xx is a failure of the test. `Prefer: wait` is not sent. Returns
 * the order's id and how many times it was sent again.
 */
async function placeWithRetries({ userId, items }: PlannedOrder, giveUpAt: number): Promise<{ id: string; retried: number }> {
  const key = randomUUID();
  for (let retried = 0; ; retried++) {
    const answer = await api('POST', '/orders', { body: { userId, items }, headers: { 'idempotency-key': key } }).catch((error: Error) => ({
      status: 0,
      body: error.message,
    }));
    if (answer.status === 201 || answer.status === 202) return { id: answer.body.id, retried };
    if (answer.status > 0 && answer.status < 500) throw new Error(`an order answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    if (Date.now() > giveUpAt) throw new Error(`an order still refused at its give-up time: ${answer.status}`);
    // A client's backoff between attempts, not a wait for a result.
    await sleep(250);
  }
}

/**
 * Places every planned order through the gateway (`placeWithRetries`), `concurrency` at a time: a closed
 * loop, as fast as the gateway takes them.
 */
export async function burst(plan: PlannedOrder[], concurrency: number, giveUpMs = 180_000): Promise<BurstResult> {
  const accepted: string[] = new Array(plan.length);
  let retried = 0;
  let next = 0;
  const giveUpAt = Date.now() + giveUpMs;
  const client = async () => {
    for (let index = next++; index < plan.length; index = next++) {
      const placed = await placeWithRetries(plan[index]!, giveUpAt);
      accepted[index] = placed.id;
      retried += placed.retried;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { accepted, retried };
}

/**
 * Places the planned orders at a steady `perSecond` (an open loop: order i is sent i/perSecond seconds
 * after the first, whether or not the ones before it were answered), each with `placeWithRetries`.
 */
export async function paced(plan: PlannedOrder[], perSecond: number, giveUpMs = 180_000): Promise<BurstResult> {
  const started = Date.now();
  const giveUpAt = started + giveUpMs;
  const placing: Array<Promise<{ id: string; retried: number }>> = [];
  for (const [index, order] of plan.entries()) {
    // The load's schedule, not a wait for a result.
    const due = started + (index * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    placing.push(placeWithRetries(order, giveUpAt));
  }
  const placed = await Promise.all(placing);
  return { accepted: placed.map((p) => p.id), retried: placed.reduce((sum, p) => sum + p.retried, 0) };
}

/**
 * Waits until no saga of these orders is PENDING (read from the order database's `sagas`, which keeps
 * cancelled orders too); returns their statuses.
 */
export async function waitUntilFinished(order: Knex, ids: string[], timeoutMs = 240_000): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows: { order_id: string; status: string }[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      rows.push(
        ...(await order('sagas')
          .whereIn('order_id', ids.slice(i, i + 500))
          .select('order_id', 'status')),
      );
    }
    const statuses = new Map(rows.map((row) => [row.order_id, row.status]));
    const pending = ids.filter((id) => statuses.get(id) === 'PENDING' || !statuses.has(id));
    if (pending.length === 0) return statuses;
    if (Date.now() > deadline) throw new Error(`${pending.length} of ${ids.length} orders still PENDING after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** Messages ever written to the DLQ topics, summed over partitions: compare before and after a fault. */
export async function dlqDepth(): Promise<number> {
  const kafka = new Kafka({
    clientId: `saga-checks-dlq-${randomUUID().slice(0, 8)}`,
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.endsWith('.dlq'));
    let depth = 0;
    for (const topic of topics) {
      for (const { high, low } of await admin.fetchTopicOffsets(topic)) depth += Number(high) - Number(low);
    }
    return depth;
  } finally {
    await admin.disconnect();
  }
}
