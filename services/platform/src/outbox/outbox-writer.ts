import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { EventCodec } from '../avro/event-codec.js';
import type { EventSchema } from '../avro/event-schemas.js';
import { AppError } from '../errors.js';
import { inOneTrip, type Statement } from '../data/one-trip.js';
import { childTraceparent } from '../trace-context.js';

/** An event to publish, written by the service in the same transaction as its business rows. */
export interface OutboxEvent {
  /** `<Aggregate><PastTense>`, one of the event types registered with the codec. */
  type: string;
  /** Kafka key; every saga event is keyed by the order id so an order's events stay in order. */
  aggregateId: string;
  payload: unknown;
  /** The incoming trace context (HTTP request or consumed event); a child span is recorded. */
  traceparent?: string | null;
}

export interface OutboxWriterOptions {
  /**
   * Delete the row again in the same transaction (default). Debezium reads the insert from the binlog,
   * so the event is published all the same, and the table never grows: Debezium's own outbox example
   * does this. Turn it off to inspect rows while debugging; then something else must clean the table.
   */
  deleteAfterInsert?: boolean;
  /**
   * The largest encoded event accepted (default 900 KiB). Kafka refuses records over its 1 MiB default
   * (`message.max.bytes`, and the Connect producer's `max.request.size`), and a record it refuses fails the
   * connector's task: CDC stops for every service's outbox. Refusing the event here rolls back the business
   * transaction with a clear error instead. The margin covers key, headers and record framing.
   */
  maxEventBytes?: number;
}

/** Kafka's default limit (1 MiB) less a margin for the key, the headers and the record's framing. */
export const DEFAULT_MAX_EVENT_BYTES = 900 * 1024;

/**
 * The only way an event leaves a service: a row in its `outbox` table, committed (or rolled back)
 * together with the business rows. Debezium's Outbox Event Router turns the row into a Kafka record on
 * `<aggregatetype>.events`, keyed by `aggregateid`, with `eventId`, `eventType` and `traceparent` headers.
 */
export class OutboxWriter {
  private readonly schemas: Map<string, EventSchema>;
  private readonly deleteAfterInsert: boolean;
  private readonly maxEventBytes: number;

  constructor(
    private readonly codec: EventCodec,
    schemas: EventSchema[],
    options: OutboxWriterOptions = {},
  ) {
    this.schemas = new Map(schemas.map((schema) => [schema.type, schema]));
    this.deleteAfterInsert = options.deleteAfterInsert ?? true;
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  }

  /**
   * Encodes the event as Avro and inserts its outbox row in `trx`. Returns the event id. `alongside` are
   * the step's own writes, sent before the outbox row in the same round trip (see inOneTrip): if one of
   * them fails, its error is thrown and neither the statements after it nor the outbox row were run.
   */
  async write(trx: Knex.Transaction, event: OutboxEvent, alongside: Statement[] = []): Promise<string> {
    if (!trx.isTransaction) {
      throw new AppError('NOT_IN_TRANSACTION', 'outbox rows must be written inside the business transaction');
    }
    const schema = this.schemas.get(event.type);
    if (!schema) throw new AppError('UNKNOWN_EVENT_TYPE', `no schema for event type ${event.type}`);
    const id = randomUUID();
    const payload = await this.codec.encode(event.type, event.payload);
    if (payload.length > this.maxEventBytes) {
      // Thrown inside the caller's transaction: the business rows go with it, nothing reaches the binlog.
      throw new AppError(
        'EVENT_TOO_LARGE',
        `event ${event.type} for ${event.aggregateId} is ${payload.length} bytes encoded, over the ${this.maxEventBytes}-byte limit Kafka can carry`,
        { status: 422 },
      );
    }
    const insert = trx('outbox').insert({
      id,
      aggregatetype: schema.aggregateType,
      aggregateid: event.aggregateId,
      type: event.type,
      payload,
      traceparent: childTraceparent(event.traceparent),
    });
    await inOneTrip(trx, [...alongside, insert, ...(this.deleteAfterInsert ? [trx('outbox').where({ id }).delete()] : [])]);
    return id;
  }
}
