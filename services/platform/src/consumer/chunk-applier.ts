import type { KafkaMessage } from 'kafkajs';
import type { Knex } from 'knex';
import type { EventCodec } from '../avro/event-codec.js';
import { inOneTrip } from '../data/one-trip.js';
import { describeError, isDuplicateKey, isRetriable } from '../errors.js';
import type { Logger } from '../logger.js';
import { decodeEvent, type ConsumedEvent, type EventHandler, type EventOutcome } from './consumed-event.js';
import type { DeadLetterWriter } from './dead-letter-writer.js';
import { headerText } from './headers.js';

/** What a ChunkApplier reads of the consumer's options (read at each use, so the same object can be passed). */
export interface ChunkApplierOptions {
  db: Knex;
  codec: EventCodec;
  logger: Logger;
  groupId: string;
  handlers: Record<string, EventHandler>;
  onReceived?: (event: ConsumedEvent, receivedAt: number) => void;
  onEvent?: (event: ConsumedEvent | undefined, outcome: EventOutcome, durationMs: number) => void;
}

/** Where a chunk stopped short: the first message not settled, and the transient error that stopped it. */
export interface Stop {
  index: number;
  error: unknown;
  event?: ConsumedEvent;
}

/** One message of a chunk and what became of it. */
interface Item {
  message: KafkaMessage;
  event?: ConsumedEvent;
  handler?: EventHandler;
  outcome?: EventOutcome;
  /** Why a dead-lettered message could never be applied. */
  error?: unknown;
  /** Set on the event whose transient failure undid the chunk's transaction. */
  failed?: boolean;
  /** Time spent on this event inside the transaction. */
  ms?: number;
}

/**
 * Applies consecutive messages of one partition (a chunk) exactly once: decoded, then applied in one
 * database transaction with a savepoint per event, each event's id recorded in processed_events beside its
 * effect; what can never be applied goes to the DLQ. Each event's outcome is told to `onEvent`.
 */
export class ChunkApplier {
  /** Per partition, the highest offset reported to `onReceived`, so a retried event is timed once. */
  private readonly received = new Map<string, bigint>();

  constructor(
    private readonly options: ChunkApplierOptions,
    private readonly deadLetters: DeadLetterWriter,
  ) {}

  /**
   * Decodes the chunk, applies its events in one transaction, dead-letters what can never be applied.
   * Returns where it stopped short on a transient failure (nothing from that index on is settled), and
   * whether a message before that point went to the DLQ.
   */
  async apply(topic: string, partition: number, chunk: KafkaMessage[]): Promise<{ stop?: Stop; deadLettered: boolean }> {
    const { items, stop } = await this.prepare(topic, partition, chunk);
    let commitMs = 0;
    if (items.some((item) => item.outcome === undefined)) {
      const transactionStarted = performance.now();
      try {
        await this.options.db.transaction(async (trx) => {
          for (const item of items) if (item.outcome === undefined) await this.applyOne(trx, item);
        });
      } catch (error) {
        // The whole transaction is gone (a deadlock or a lost connection ends it on the server anyway):
        // nothing of this chunk is applied, and it is tried again from its first message.
        const failed = items.find((item) => item.failed);
        return { stop: { index: 0, error, event: failed?.event }, deadLettered: false };
      }
      commitMs = performance.now() - transactionStarted - items.reduce((sum, item) => sum + (item.ms ?? 0), 0);
    }
    let deadLettered = false;
    for (const [index, item] of items.entries()) {
      if (item.outcome !== 'dead-lettered') continue;
      try {
        await this.deadLetters.send(topic, partition, item.message, item.error);
        deadLettered = true;
      } catch (error) {
        // Kafka refused the DLQ record: this message is retried; what the transaction applied after it
        // is found in processed_events next time.
        this.report(topic, partition, items.slice(0, index), commitMs);
        return { stop: { index, error, event: item.event }, deadLettered };
      }
    }
    this.report(topic, partition, items, commitMs);
    return { stop, deadLettered };
  }

  /** Decodes each message; stops at the first transient decode failure (the registry unreachable). */
  private async prepare(topic: string, partition: number, chunk: KafkaMessage[]): Promise<{ items: Item[]; stop?: Stop }> {
    const items: Item[] = [];
    for (const [index, message] of chunk.entries()) {
      const item: Item = { message };
      // Events this service has no handler for are acknowledged without decoding them.
      const type = headerText(message.headers, 'eventType');
      if (type && !this.options.handlers[type]) {
        items.push({ ...item, outcome: 'skipped' });
        continue;
      }
      try {
        item.event = await decodeEvent(this.options.codec, topic, partition, message);
        this.reportReceived(item.event);
        item.handler = this.options.handlers[item.event.eventType];
        if (!item.handler) item.outcome = 'skipped';
      } catch (error) {
        if (isRetriable(error)) return { items, stop: { index, error } };
        item.outcome = 'dead-lettered';
        item.error = error;
      }
      items.push(item);
    }
    return { items };
  }

  /**
   * Records the event id and runs the handler, under a savepoint: a permanent failure undoes this
   * event's writes alone and marks it for the DLQ; a transient one is thrown and undoes the chunk.
   */
  private async applyOne(trx: Knex.Transaction, item: Item): Promise<void> {
    const started = performance.now();
    const event = item.event!;
    let recorded: boolean;
    try {
      recorded = await this.recordOnce(trx, event);
    } catch (error) {
      // Whether this event's savepoint was set is unknown here, so nothing can be undone for this event
      // alone: the chunk is undone and tried again (an id that cannot be recorded is never a fault of
      // the event; the id and type were checked when it was decoded).
      item.failed = true;
      item.ms = performance.now() - started;
      throw error;
    }
    try {
      item.outcome = recorded ? (await item.handler!(event, trx), 'applied') : 'duplicate';
    } catch (error) {
      if (isRetriable(error)) {
        item.failed = true;
        throw error;
      }
      await trx.raw('ROLLBACK TO SAVEPOINT event');
      item.outcome = 'dead-lettered';
      item.error = error;
    } finally {
      item.ms = performance.now() - started;
    }
  }

  /**
   * Sets the event's savepoint and inserts the event id, in one round trip; false when the id is there
   * already. Inserting first takes the id's row lock: a second instance handling the same event at the
   * same time waits here, then fails on the committed key instead of applying the event twice. (Not
   * INSERT … ON DUPLICATE KEY: mysql2 connects with CLIENT_FOUND_ROWS, so affectedRows cannot tell a
   * duplicate from a new row.) One savepoint name for all: a savepoint replaces an older one of the same
   * name, so none needs releasing.
   */
  private async recordOnce(trx: Knex.Transaction, event: ConsumedEvent): Promise<boolean> {
    try {
      await inOneTrip(trx, [
        trx.raw('SAVEPOINT event'),
        trx('processed_events').insert({
          consumer_group: this.options.groupId,
          event_id: event.eventId,
          event_type: event.eventType,
        }),
      ]);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  private reportReceived(event: ConsumedEvent): void {
    const key = `${event.topic}:${event.partition}`;
    const offset = BigInt(event.offset);
    const last = this.received.get(key);
    if (last !== undefined && offset <= last) return;
    this.received.set(key, offset);
    this.options.onReceived?.(event, Date.now());
  }

  /** Logs each dead-lettered message and tells `onEvent` what became of every settled one. */
  private report(topic: string, partition: number, items: Item[], commitMs: number): void {
    for (const item of items) {
      if (item.outcome === 'dead-lettered') {
        const { code, message: reason } = describeError(item.error);
        const { offset } = item.message;
        this.options.logger.error({ topic, partition, offset, eventId: item.event?.eventId, code, reason }, 'event dead-lettered');
      }
      // An event's time is its own work in the transaction plus the commit it waited for.
      this.options.onEvent?.(item.event, item.outcome!, (item.ms ?? 0) + commitMs);
    }
  }
}
