import { EventEmitter, once } from 'node:events';
import kafkajs, { Partitioners, type Admin, type Consumer, type EachBatchPayload, type IHeaders, type Kafka, type KafkaMessage, type Offsets, type Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { EventCodec } from '../avro/event-codec.js';
import { inOneTrip } from '../data/one-trip.js';
import { AppError, describeError, isDuplicateKey, isRetriable } from '../errors.js';
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
  /**
   * How long processed event ids are kept (the cleaner's retention, hours). When given, start() refuses
   * topics whose records can outlive it (see `dedupeWindowProblems`).
   */
  dedupeWindowHours?: number;
  /** Kafka's consumer session timeout (kafkajs' default 30 s): a member silent this long is evicted. */
  sessionTimeoutMs?: number;
  /** The most events of one partition applied in one database transaction (default 100). */
  maxBatchEvents?: number;
  /**
   * The least time between two offset commits of this instance (default 1000 ms; 0 commits after every
   * batch, as kafkajs does by default). Offsets only mark progress: what was applied is recorded in
   * processed_events, so events applied since the last commit and delivered again (after a crash or a
   * rebalance) are found there and change nothing. Resolved offsets still waiting are committed once
   * the instance has been idle this long, and when it stops.
   */
  commitIntervalMs?: number;
  /** Called once per decoded event when it arrives (before any retry), for latency metrics. */
  onReceived?: (event: ConsumedEvent, receivedAt: number) => void;
  /** Called after each handled event (for metrics); `outcome` says what happened to it. */
  onEvent?: (event: ConsumedEvent | undefined, outcome: EventOutcome, durationMs: number) => void;
}

export type EventOutcome = 'applied' | 'duplicate' | 'skipped' | 'retried' | 'dead-lettered';

// Not a named export Node's CommonJS detection finds in kafkajs.
const { ConfigResourceTypes } = kafkajs;

const text = (headers: IHeaders | undefined, name: string): string | null => {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === null ? null : first.toString();
};

/** A topic's retention as Kafka applies it (ms; -1 = for ever). */
export interface TopicRetention {
  topic: string;
  retentionMs: number;
  segmentMs: number;
}

/**
 * Topics whose records can be delivered again after their ids left processed_events. Kafka deletes whole
 * segments once their newest record is past retention.ms, so a record lives up to retention.ms +
 * segment.ms. A group whose committed offsets expired (offsets.retention.minutes) starts again from the
 * earliest record, so it too replays nothing older than that. Both stay harmless while that sum is
 * shorter than the dedupe window.
 */
export function dedupeWindowProblems(windowHours: number, topics: TopicRetention[]): string[] {
  const windowMs = windowHours * 3_600_000;
  return topics
    .filter(({ retentionMs, segmentMs }) => retentionMs < 0 || retentionMs + segmentMs >= windowMs)
    .map(({ topic, retentionMs, segmentMs }) =>
      retentionMs < 0
        ? `${topic} keeps records for ever (retention.ms -1)`
        : `${topic} keeps a record up to ${((retentionMs + segmentMs) / 3_600_000).toFixed(1)} h (retention.ms ${retentionMs} + segment.ms ${segmentMs})`,
    );
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

/** Where a chunk stopped short: the first message not settled, and the transient error that stopped it. */
interface Stop {
  index: number;
  error: unknown;
  event?: ConsumedEvent;
}

/** Exponential backoff with full jitter over the upper half: attempt 1 waits about `minMs`. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * A kafkajs consumer that applies each event exactly once to the service's database:
 *
 * - the event id (the outbox row id, in the `eventId` header) is recorded in `processed_events` in the
 *   same transaction as the handler's effect; a redelivered event finds it there and changes nothing;
 * - a fetched batch of one partition is applied in one transaction (up to `maxBatchEvents` events),
 *   with a savepoint per event: each event is still all or nothing, and the batch costs one durable
 *   commit; offsets are committed once it is, at most once per `commitIntervalMs`;
 * - a transient failure (deadlock, lock wait, lost connection, read-only server, registry down, any error
 *   not known to be permanent) undoes the chunk and pauses that partition alone, to fetch it again from
 *   its first unapplied message after a backoff: the other partitions go on, and the member keeps
 *   heartbeating because no handler call waits out the backoff;
 * - messages that can never be applied (not Avro, unknown schema, missing headers, a handler's permanent
 *   error) go to `<topic>.dlq` with the error in headers, and their neighbours commit.
 */
export class IdempotentConsumer {
  private readonly consumer: Consumer;
  private readonly dlqProducer: Producer;
  private readonly abort = new AbortController();
  private running = false;
  /** Transient failures in a row per partition ("topic:partition"), for the backoff. */
  private readonly attempts = new Map<string, number>();
  /** Events per transaction per partition: fewer after a transient failure, back up after successes. */
  private readonly chunkSizes = new Map<string, number>();
  /** Timers that resume paused partitions; cleared on stop. */
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /** Per partition, the highest offset reported to `onReceived`, so a retried event is timed once. */
  private readonly received = new Map<string, bigint>();
  /**
   * kafkajs' commit of every resolved offset not yet committed, for its current generation and
   * assignment, taken from the latest batch (it is not on the consumer's public API).
   */
  private commitResolved: (() => Promise<void>) | undefined;
  private batchesInFlight = 0;
  private readonly idle = new EventEmitter();
  private lastBatchEnded = 0;
  private commitPending = false;
  private idleCommitTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: IdempotentConsumerOptions) {
    if (options.topics.length === 0) throw new AppError('NO_TOPICS', 'an IdempotentConsumer needs at least one topic');
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: true,
      // An idle fetch waits at most 1 s (kafkajs' default is 5 s); data is returned as soon as it is
      // there either way (minBytes 1). disconnect() waits for the fetch in flight, so this is how long
      // a stopping service lingers.
      maxWaitTimeInMs: 1000,
      ...(options.sessionTimeoutMs ? { sessionTimeout: options.sessionTimeoutMs } : {}),
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
    const interval = this.commitInterval();
    await this.consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 3,
      // Only what is applied (or dead-lettered) is resolved; kafkajs would otherwise resolve the whole batch.
      eachBatchAutoResolve: false,
      // kafkajs commits after every batch when it commits by itself: at a few events per batch that is an
      // offset commit (a write to __consumer_offsets) for every few events. Here each batch commits only
      // if `commitIntervalMs` has passed since the last commit (see handleBatch).
      autoCommit: false,
      autoCommitInterval: interval,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    // kafkajs commits nothing by itself now, not even when it leaves a generation: what this instance
    // resolved is committed as a rebalance begins (the old generation may still commit), and a crashed
    // runner's commit is tried once and dropped (its restart reads the group's committed offsets anew).
    this.consumer.on(this.consumer.events.REBALANCING, () => void this.commitResolved?.().catch(() => undefined));
    this.consumer.on(this.consumer.events.CRASH, () => {
      const commit = this.commitResolved;
      this.commitResolved = undefined;
      this.commitPending = false;
      void commit?.().catch(() => undefined);
    });
    if (interval > 0) {
      this.idleCommitTimer = setInterval(() => void this.commitWhenIdle(interval), interval).unref();
    }
  }

  private commitInterval(): number {
    return Math.max(0, this.options.commitIntervalMs ?? 1000);
  }

  /** Commits what the last batches resolved once no batch has run for a whole interval. */
  private async commitWhenIdle(interval: number): Promise<void> {
    if (!this.commitPending || this.batchesInFlight > 0 || Date.now() - this.lastBatchEnded < interval) return;
    this.commitPending = false;
    try {
      await this.commitResolved?.();
    } catch {
      // A rebalance or a crash of kafkajs' group meanwhile: the next batch commits, or the new owner
      // applies those events again and finds them in processed_events.
      this.commitPending = true;
    }
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
      const windowHours = this.options.dedupeWindowHours;
      if (windowHours !== undefined) {
        const problems = dedupeWindowProblems(windowHours, await this.retentionOf(admin));
        if (problems.length > 0) {
          throw new AppError(
            'DEDUPE_WINDOW_TOO_SHORT',
            `records can be redelivered after their ids are forgotten (kafka.dedupeRetentionHours ${windowHours}): ` +
              `${problems.join('; ')}. Lower the topic's segment.ms or retention.ms, or raise kafka.dedupeRetentionHours.`,
          );
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** The effective retention.ms and segment.ms of the topics read (topic overrides or broker defaults). */
  private async retentionOf(admin: Admin): Promise<TopicRetention[]> {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: this.options.topics.map((name) => ({
        type: ConfigResourceTypes.TOPIC,
        name,
        configNames: ['retention.ms', 'segment.ms'],
      })),
    });
    return resources.map(({ resourceName, configEntries }) => {
      const value = (name: string) => Number(configEntries.find((entry) => entry.configName === name)?.configValue);
      return { topic: resourceName, retentionMs: value('retention.ms'), segmentMs: value('segment.ms') };
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    clearInterval(this.idleCommitTimer);
    if (this.running) {
      // Batches see the abort between chunks and return; then what they resolved is committed, so the
      // next owner of these partitions starts where this one stopped.
      while (this.batchesInFlight > 0) await once(this.idle, 'idle');
      await this.commitResolved?.().catch(() => undefined);
      await this.consumer.disconnect();
    }
    this.running = false;
    await this.dlqProducer.disconnect();
  }

  /** The consumer, for callers that want its instrumentation events or to seek. */
  get kafkaConsumer(): Consumer {
    return this.consumer;
  }

  /** Changes the backoff of retries that start from now on (a live setting). */
  setRetry(retry: { minMs: number; maxMs: number }): void {
    this.options.retry = { ...retry };
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { commitOffsetsIfNecessary } = payload;
    // Given an object without `topics`, kafkajs commits every resolved offset not committed yet, whatever
    // the interval (its typings ask for `topics`, which would name the offsets explicitly).
    const commitAll = () => commitOffsetsIfNecessary({} as Offsets);
    this.commitResolved = commitAll;
    this.batchesInFlight += 1;
    let failed = false;
    let deadLettered = false;
    try {
      deadLettered = await this.applyBatch(payload);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      this.batchesInFlight -= 1;
      this.lastBatchEnded = Date.now();
      this.commitPending = true;
      try {
        // After a failure (a rebalance seen by heartbeat()), commit now what was applied: the next owner
        // then starts after it. After a dead letter too: unlike an applied event, a dead-lettered one left
        // no record in processed_events, and delivered again it would be dead-lettered twice. Otherwise
        // only once the interval has passed.
        if (failed || deadLettered || this.commitInterval() === 0) {
          await commitAll();
        } else {
          await commitOffsetsIfNecessary();
        }
      } catch {
        // Not committed: those events come again and are found in processed_events.
      } finally {
        if (this.batchesInFlight === 0) this.idle.emit('idle');
      }
    }
  }

  /** Applies a batch chunk by chunk; true when a message of it was dead-lettered (and resolved). */
  private async applyBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<boolean> {
    const { topic, partition } = batch;
    const key = `${topic}:${partition}`;
    const largest = this.options.maxBatchEvents ?? 100;
    let deadLettered = false;
    for (let from = 0; from < batch.messages.length; ) {
      // A seek or a rebalance makes the rest of this batch stale: the next fetch starts over.
      if (!isRunning() || isStale() || this.abort.signal.aborted) return deadLettered;
      const size = this.chunkSizes.get(key) ?? largest;
      const chunk = batch.messages.slice(from, from + size);
      const { stop, deadLettered: sent } = await this.applyChunk(topic, partition, chunk);
      deadLettered ||= sent;
      const settled = stop?.index ?? chunk.length;
      // Committed when this batch returns (see handleBatch).
      if (settled > 0) resolveOffset(chunk[settled - 1]!.offset);
      if (stop) {
        // Halved after a failure, doubled after a success: under lock contention (partitions' batches
        // locking the same rows in different orders deadlock) transactions shrink until they pass.
        this.chunkSizes.set(key, Math.max(1, Math.floor(size / 2)));
        this.retryLater(topic, partition, chunk[stop.index]!.offset, stop);
        return deadLettered;
      }
      this.chunkSizes.set(key, Math.min(largest, size * 2));
      this.attempts.delete(key);
      from += chunk.length;
      await heartbeat();
    }
    return deadLettered;
  }

  /**
   * Pauses the partition and resumes it after the backoff; the other partitions of this instance are
   * fetched meanwhile. No seek is needed: kafkajs fetches a partition from its resolved offset, which is
   * `offset` (everything before it is applied and resolved, nothing after). A seek would also outlive a
   * rebalance in kafkajs' queue and move the group's offset back when the partition returned, hours later.
   */
  private retryLater(topic: string, partition: number, offset: string, stop: Stop): void {
    if (this.abort.signal.aborted) return; // stopping: leave the offset uncommitted
    const key = `${topic}:${partition}`;
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    // Read per failure, so a backoff changed live applies to the next retry.
    const { minMs = 100, maxMs = 10_000 } = this.options.retry ?? {};
    const delayMs = backoffMs(attempt, minMs, maxMs);
    const { code, message } = describeError(stop.error);
    this.options.logger.warn(
      { topic, partition, offset, eventId: stop.event?.eventId, attempt, delayMs, code, reason: message },
      'transient failure, partition paused for a retry',
    );
    this.options.onEvent?.(stop.event, 'retried', 0);
    const partitions = [{ topic, partitions: [partition] }];
    this.consumer.pause(partitions);
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      try {
        this.consumer.resume(partitions);
      } catch {
        // kafkajs crashed and dropped its group meanwhile (it throws "not initialized"); the group it
        // starts again has nothing paused.
      }
    }, delayMs);
    this.resumeTimers.add(timer);
  }

  /**
   * Decodes the chunk, applies its events in one transaction, dead-letters what can never be applied.
   * Returns where it stopped short on a transient failure (nothing from that index on is settled), and
   * whether a message before that point went to the DLQ.
   */
  private async applyChunk(topic: string, partition: number, chunk: KafkaMessage[]): Promise<{ stop?: Stop; deadLettered: boolean }> {
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
        await this.deadLetter(topic, partition, item.message, item.error);
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
      const type = text(message.headers, 'eventType');
      if (type && !this.options.handlers[type]) {
        items.push({ ...item, outcome: 'skipped' });
        continue;
      }
      try {
        item.event = await this.decode(topic, partition, message);
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

  private async decode(topic: string, partition: number, message: KafkaMessage): Promise<ConsumedEvent> {
    const eventId = text(message.headers, 'eventId');
    const eventType = text(message.headers, 'eventType');
    if (!eventId || !eventType) {
      throw new AppError('MISSING_HEADER', `message has no ${eventId ? 'eventType' : 'eventId'} header`);
    }
    // What processed_events can hold (event_id VARCHAR(64)): an id it cannot record is refused here, as
    // the event's own fault, and never reaches the insert.
    if (eventId.length > 64) throw new AppError('INVALID_HEADER', `eventId header is ${eventId.length} characters, over 64`);
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

  private async deadLetter(topic: string, partition: number, message: KafkaMessage, error: unknown): Promise<void> {
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
