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
 * Places every planned order through the gateway, `concurrency` at a time, as a careful client would:
 * an answer 5xx or no answer at all (the gateway itself restarting) is sent again with the same
 * Idempotency-Key after a short pause, until it is accepted or `giveUpMs` has passed. A 4xx is a
 * failure of the test. `Prefer: wait` is not sent, so the burst is as fast as the gateway takes it.
 */
export async function burst(plan: PlannedOrder[], concurrency: number, giveUpMs = 180_000): Promise<BurstResult> {
  const accepted: string[] = new Array(plan.length);
  let retried = 0;
  let next = 0;
  const giveUpAt = Date.now() + giveUpMs;
  const client = async () => {
    for (let index = next++; index < plan.length; index = next++) {
      const { userId, items } = plan[index]!;
      const key = randomUUID();
      for (;;) {
        const answer = await api('POST', '/orders', { body: { userId, items }, headers: { 'idempotency-key': key } }).catch(
          (error: Error) => ({ status: 0, body: error.message }),
        );
        if (answer.status === 201 || answer.status === 202) {
          accepted[index] = answer.body.id;
          break;
        }
        if (answer.status > 0 && answer.status < 500) {
          throw new Error(`order ${index} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
        if (Date.now() > giveUpAt) throw new Error(`order ${index} still refused after ${giveUpMs} ms: ${answer.status}`);
        retried++;
        // A client's backoff between attempts, not a wait for a result.
        await sleep(250);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { accepted, retried };
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
