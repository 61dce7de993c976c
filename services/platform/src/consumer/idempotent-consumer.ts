import { Partitioners, type Consumer, type EachMessagePayload, type IHeaders, type Kafka, type Producer } from 'kafkajs';
import type { Knex } from 'knex';
import pRetry, { AbortError } from 'p-retry';
import type { EventCodec } from '../avro/event-codec.js';
import { AppError, describeError, isRetriable } from '../errors.js';
import type { Logger } from '../logger.js';

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

export interface IdempotentConsumerOptions {
  kafka: Kafka;
  db: Knex;
  codec: EventCodec;
  logger: Logger;
  groupId: string;
  topics: string[];
  /** Handlers by event type; events of other types on these topics are acknowledged and skipped. */
  handlers: Record<string, EventHandler>;
  fromBeginning?: boolean;
  /** Partitions of a topic this consumer has to create because it does not exist yet (default 3). */
  partitions?: number;
  /** Partitions handled in parallel by this instance (order within a partition is always kept). */
  partitionsConsumedConcurrently?: number;
  /** Backoff for transient failures: doubles from `minMs` up to `maxMs`, forever, until stopped. */
  retry?: { minMs?: number; maxMs?: number };
  /** Called once per decoded event when it arrives (before any retry), for latency metrics. */
  onReceived?: (event: ConsumedEvent, receivedAt: number) => void;
  /** Called after each handled event (for metrics); `outcome` says what happened to it. */
  onEvent?: (event: ConsumedEvent | undefined, outcome: EventOutcome, durationMs: number) => void;
}

export type EventOutcome = 'applied' | 'duplicate' | 'skipped' | 'dead-lettered';

const ER_DUP_ENTRY = 1062;

const text = (headers: IHeaders | undefined, name: string): string | null => {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === null ? null : first.toString();
};

/**
 * A kafkajs consumer that applies each event exactly once to the service's database:
 *
 * - the event id (the outbox row id, in the `eventId` header) is recorded in `processed_events` in the
 *   same transaction as the handler's effect; a redelivered event finds it there and changes nothing;
 * - transient failures (deadlock, lost connection, registry down) are retried with backoff on the same
 *   message, so its offset is not committed and later messages of the partition wait behind it;
 * - messages that can never be applied (not Avro, unknown schema, missing headers, a handler's
 *   permanent error) go to `<topic>.dlq` with the error in headers, and consumption goes on.
 */
export class IdempotentConsumer {
  private readonly consumer: Consumer;
  private readonly dlqProducer: Producer;
  private readonly abort = new AbortController();
  private running = false;

  constructor(private readonly options: IdempotentConsumerOptions) {
    if (options.topics.length === 0) throw new AppError('NO_TOPICS', 'an IdempotentConsumer needs at least one topic');
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: true,
      // An idle fetch waits at most 1 s (kafkajs' default is 5 s); data is returned as soon as it is
      // there either way (minBytes 1). disconnect() waits for the fetch in flight, so this is how long
      // a stopping service lingers.
      maxWaitTimeInMs: 1000,
    });
    this.dlqProducer = options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Murmur2, as Java clients: a DLQ record lands on the partition its key would get from Connect.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async start(): Promise<void> {
    await this.ensureTopics();
    await this.dlqProducer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning ?? true });
    this.running = true;
    await this.consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 3,
      eachMessage: (payload) => this.handleMessage(payload),
    });
  }

  /**
   * Creates the topics it reads (and their DLQs) if they do not exist yet, with the partition count
   * Connect's topic creation uses, so a consumer started before the first event does not fail to
   * subscribe. Existing topics are left as they are.
   */
  private async ensureTopics(): Promise<void> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = this.options.topics
        .flatMap((topic) => [topic, `${topic}.dlq`])
        .filter((topic) => !existing.has(topic));
      if (missing.length > 0) {
        await admin.createTopics({
          topics: missing.map((topic) => ({ topic, numPartitions: this.options.partitions ?? 3 })),
          waitForLeaders: true,
        });
      }
    } finally {
      await admin.disconnect();
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.running) await this.consumer.disconnect();
    this.running = false;
    await this.dlqProducer.disconnect();
  }

  /** The consumer, for callers that want its instrumentation events or to seek. */
  get kafkaConsumer(): Consumer {
    return this.consumer;
  }

  private async handleMessage({ topic, partition, message, heartbeat }: EachMessagePayload): Promise<void> {
    const started = performance.now();
    const { logger, onEvent } = this.options;
    const receivedAt = Date.now();
    let event: ConsumedEvent | undefined;
    let outcome: EventOutcome;
    try {
      // Events this service has no handler for are acknowledged without decoding them.
      const type = text(message.headers, 'eventType');
      if (type && !this.options.handlers[type]) {
        onEvent?.(undefined, 'skipped', performance.now() - started);
        return;
      }
      outcome = await this.withRetry(heartbeat, { topic, partition, offset: message.offset }, async () => {
        const first = event === undefined;
        event = await this.decode(topic, partition, message);
        if (first) this.options.onReceived?.(event, receivedAt);
        const handler = this.options.handlers[event.eventType];
        if (!handler) return 'skipped';
        return this.applyOnce(event, handler);
      });
    } catch (error) {
      if (this.abort.signal.aborted) throw error; // stopping: leave the offset uncommitted
      const { code, message: reason } = describeError(error);
      logger.error({ topic, partition, offset: message.offset, eventId: event?.eventId, code, reason }, 'event dead-lettered');
      await this.deadLetter(topic, partition, message, error);
      outcome = 'dead-lettered';
    }
    onEvent?.(event, outcome, performance.now() - started);
  }

  private async decode(
    topic: string,
    partition: number,
    message: EachMessagePayload['message'],
  ): Promise<ConsumedEvent> {
    const eventId = text(message.headers, 'eventId');
    const eventType = text(message.headers, 'eventType');
    if (!eventId || !eventType) {
      throw new AppError('MISSING_HEADER', `message has no ${eventId ? 'eventType' : 'eventId'} header`);
    }
    const { payload } = await this.options.codec.decode(message.value);
    return {
      eventId,
      eventType,
      key: message.key?.toString() ?? null,
      payload,
      traceparent: text(message.headers, 'traceparent'),
      topic,
      partition,
      offset: message.offset,
      timestamp: Number(message.timestamp),
    };
  }

  /** Records the event id and runs the handler in one transaction; a known id means "already done". */
  private async applyOnce(event: ConsumedEvent, handler: EventHandler): Promise<EventOutcome> {
    return this.options.db.transaction(async (trx) => {
      // Inserting the id first takes its row lock: a second instance handling the same event at the same
      // time waits here, then fails on the committed key instead of applying the event twice. (Not
      // INSERT … ON DUPLICATE KEY: mysql2 connects with CLIENT_FOUND_ROWS, so affectedRows cannot tell
      // a duplicate from a new row.)
      try {
        await trx('processed_events').insert({
          consumer_group: this.options.groupId,
          event_id: event.eventId,
          event_type: event.eventType,
        });
      } catch (error) {
        if ((error as { errno?: number }).errno === ER_DUP_ENTRY) return 'duplicate';
        throw error;
      }
      await handler(event, trx);
      return 'applied';
    });
  }

  /** Changes the backoff of retries that start from now on (a live setting). */
  setRetry(retry: { minMs: number; maxMs: number }): void {
    this.options.retry = { ...retry };
  }

  private async withRetry<T>(
    heartbeat: () => Promise<void>,
    where: { topic: string; partition: number; offset: string },
    work: () => Promise<T>,
  ): Promise<T> {
    // Read per failure, so a backoff changed live applies to the next retried event.
    const { minMs = 100, maxMs = 10_000 } = this.options.retry ?? {};
    return pRetry(
      async () => {
        try {
          return await work();
        } catch (error) {
          if (!isRetriable(error)) throw new AbortError(error as Error);
          throw error;
        }
      },
      {
        forever: true,
        minTimeout: minMs,
        maxTimeout: maxMs,
        factor: 2,
        randomize: true,
        signal: this.abort.signal,
        onFailedAttempt: async (failure) => {
          const { code, message } = describeError(failure);
          this.options.logger.warn({ ...where, attempt: failure.attemptNumber, code, reason: message }, 'transient failure, retrying');
          // Long retries must not cost the partition: keep the group membership alive meanwhile.
          await heartbeat().catch(() => undefined);
        },
      },
    );
  }

  private async deadLetter(
    topic: string,
    partition: number,
    message: EachMessagePayload['message'],
    error: unknown,
  ): Promise<void> {
    // p-retry rejects with the original error, not its AbortError wrapper.
    const { code, message: reason } = describeError(error);
    await this.dlqProducer.send({
      topic: `${topic}.dlq`,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...message.headers,
            'dlq.error.code': code,
            // Why it came here and not back for another try: only a permanent failure is dead-lettered.
            'dlq.error.class': 'permanent',
            'dlq.error.message': reason.slice(0, 1000),
            'dlq.original.topic': topic,
            'dlq.original.partition': String(partition),
            'dlq.original.offset': message.offset,
            'dlq.consumer.group': this.options.groupId,
            'dlq.failed.at': new Date().toISOString(),
          },
        },
      ],
    });
  }
}
