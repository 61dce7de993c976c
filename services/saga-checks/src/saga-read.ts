import type { EventCodec } from '@cdc-outbox-saga/platform';
import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import type { SagaDatabases } from './databases.js';
import { dlqTopics, readDlq } from './dlq-kafka.js';
import { DEFAULT_TOPICS } from './events-args.js';
import { readEvents, type DecodedEvent } from './events.js';
import type { DecisionRow, Handling, SagaFacts, SagaRecord, SagaStatus } from './saga-state.js';

/**
 * How far before the saga's creation the topics are read from: its events are all written after it, but
 * `created_at` is the placing instance's clock and the record timestamps are Connect's.
 */
export const CLOCK_MARGIN_MS = 60_000;

const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));

async function sagaRecord(db: Knex, orderId: string): Promise<SagaRecord | undefined> {
  // The age by the database's clock against created_at, as the deadline sweep (lockExpiredSagas in
  // services/order/src/data/order-repository.ts) decides it.
  const row = (await db('sagas')
    .where({ order_id: orderId })
    .first(
      'order_id',
      'user_id',
      'status',
      'reason',
      'amount',
      'items',
      'created_at',
      'updated_at',
      'finished_at',
      db.raw('TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6)) AS age_us'),
    )) as Record<string, any> | undefined;
  if (!row) return undefined;
  return {
    orderId: row.order_id,
    userId: row.user_id,
    status: row.status as SagaStatus,
    reason: row.reason,
    amount: num(row.amount),
    items: JSON.parse(row.items),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    ageSeconds: Number(row.age_us) / 1e6,
  };
}

async function decision(db: Knex, table: string, orderId: string): Promise<DecisionRow | null> {
  const row = (await db(table).where({ order_id: orderId }).first('status', 'reason', 'amount', 'created_at', 'updated_at')) as
    Record<string, any> | undefined;
  return row
    ? { status: row.status, reason: row.reason, amount: num(row.amount), createdAt: row.created_at, updatedAt: row.updated_at }
    : null;
}

/** Which consumer groups applied which of `eventIds`, and when, from the three services' processed_events. */
async function handlings(dbs: SagaDatabases, eventIds: string[]): Promise<Handling[]> {
  if (eventIds.length === 0) return [];
  const rows = await Promise.all(
    [dbs.order, dbs.product, dbs.user].map((db) =>
      db('processed_events').whereIn('event_id', eventIds).select('consumer_group', 'event_id', 'processed_at'),
    ),
  );
  return rows.flat().map((row) => ({ group: row.consumer_group, eventId: row.event_id, at: row.processed_at }));
}

/** The order's records on the three event topics, from a little before it was placed to their ends now. */
async function orderEvents(kafka: Kafka, codec: EventCodec, orderId: string, since: Date): Promise<DecodedEvent[]> {
  let events: DecodedEvent[] = [];
  const start = { from: 'time', at: since.getTime() - CLOCK_MARGIN_MS } as const;
  await readEvents(
    kafka,
    codec,
    { topics: DEFAULT_TOPICS, start, follow: false, key: orderId },
    { backlog: (read) => void (events = read), live: () => true },
  );
  return events;
}

/** What the order's absence from the order database leaves: the other services' rows for it, if any. */
export interface UnknownOrder {
  unknown: true;
  /** Tables of the other services that still have a row for it. */
  elsewhere: string[];
}

/**
 * Everything the stack knows about one order: the saga record, the product and user services' decisions,
 * its events on the three topics, which groups applied them, and dead letters keyed by it. Without a saga
 * record the order is unknown (the saga record is written with the order and never deleted).
 */
export async function readSagaFacts(
  dbs: SagaDatabases,
  kafka: Kafka,
  codec: EventCodec,
  orderId: string,
  deadlineSeconds: number,
): Promise<SagaFacts | UnknownOrder> {
  const [saga, reservation, deduction] = await Promise.all([
    sagaRecord(dbs.order, orderId),
    decision(dbs.product, 'reservations', orderId),
    decision(dbs.user, 'point_deductions', orderId),
  ]);
  if (!saga) {
    const elsewhere = [reservation && 'product_db.reservations', deduction && 'user_db.point_deductions'].filter((t): t is string =>
      Boolean(t),
    );
    return { unknown: true, elsewhere };
  }
  const [events, deadLetters] = await Promise.all([
    orderEvents(kafka, codec, orderId, saga.createdAt),
    dlqTopics(kafka).then((topics) => readDlq(kafka, topics)),
  ]);
  const mine = deadLetters.filter((entry) => entry.key === orderId);
  const ids = [
    ...new Set([...events.map((e) => e.headers.eventId), ...mine.map((e) => e.eventId)].filter((id): id is string => Boolean(id))),
  ];
  // Read after the topics: an event seen there and applied meanwhile shows as applied.
  const handled = await handlings(dbs, ids);
  return { saga, reservation, deduction, events, handled, deadLetters: mine, deadlineSeconds, now: new Date() };
}
