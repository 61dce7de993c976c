import type { KafkaMessage } from 'kafkajs';
import type { Knex } from 'knex';
import type { EventCodec } from '../avro/event-codec.js';
import { AppError } from '../errors.js';
import { headerText } from './headers.js';

/** A decoded event as a handler sees it. */
export interface ConsumedEvent<T = unknown> {
  eventId: string;
  eventType: string;
  /** The Kafka key: the aggregate (order) id. */
  key: string | null;
  payload: T;
  traceparent: string | null;
  topic: string;
  partition: number;
  offset: string;
  /** Kafka record timestamp (ms): when Debezium produced it. */
  timestamp: number;
}

/**
 * Applies one event inside the consumer's transaction. Whatever it writes (business rows, its own
 * outbox row) commits together with the processed-events record, or not at all. Throw an AppError
 * with `retriable: false` for an event that can never be applied: it goes to the DLQ.
 */
export type EventHandler = (event: ConsumedEvent<any>, trx: Knex.Transaction) => Promise<void>;

/** What happened to one event. */
export type EventOutcome = 'applied' | 'duplicate' | 'skipped' | 'retried' | 'dead-lettered';

/**
 * Turns a record into the event a handler sees: the outbox row's id and type from the `eventId` and
 * `eventType` headers, the value through the schema registry. A record without those headers, with an id
 * processed_events cannot hold, or with a value that does not decode is refused with a permanent AppError;
 * a registry out of reach throws a retriable one (EventCodec.decode).
 */
export async function decodeEvent(codec: EventCodec, topic: string, partition: number, message: KafkaMessage): Promise<ConsumedEvent> {
  const eventId = headerText(message.headers, 'eventId');
  const eventType = headerText(message.headers, 'eventType');
  if (!eventId || !eventType) {
    throw new AppError('MISSING_HEADER', `message has no ${eventId ? 'eventType' : 'eventId'} header`);
  }
  // What processed_events can hold (event_id VARCHAR(64)): an id it cannot record is refused here, as
  // the event's own fault, and never reaches the insert.
  if (eventId.length > 64) throw new AppError('INVALID_HEADER', `eventId header is ${eventId.length} characters, over 64`);
  const { payload } = await codec.decode(message.value);
  return {
    eventId,
    eventType,
    key: message.key?.toString() ?? null,
    payload,
    traceparent: headerText(message.headers, 'traceparent'),
    topic,
    partition,
    offset: message.offset,
    timestamp: Number(message.timestamp),
  };
}
