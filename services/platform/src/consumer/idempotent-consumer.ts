import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import type { EventCodec } from '../avro/event-codec.js';
import { AppError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ChunkApplier, type Stop } from './chunk-applier.js';
import type { ConsumedEvent, EventHandler, EventOutcome } from './consumed-event.js';
import { DeadLetterWriter } from './dead-letter-writer.js';
import { OffsetCommitter } from './offset-committer.js';
import { PartitionBackoff } from './partition-backoff.js';
import { ensureTopics } from './topic-guard.js';

export type { ConsumedEvent, EventHandler, EventOutcome } from './consumed-event.js';

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
  /**
   * kafkajs' own retries of a failed request (a broker unreachable, a coordinator moved): the first delay
   * and the most any delay grows to. A consumer that exhausts them crashes and is restarted after the last
   * delay, so `maxMs` also bounds that pause. kafkajs' defaults: 300 ms and 30 s.
   */
  clientRetry?: { initialMs: number; maxMs: number };
  /** The most events of one partition applied in one database transaction (default 100). */
  maxBatchEvents?: number;
  /**
   * The broker answers a fetch once `minBytes` are there or after `maxWaitMs` (default 1 byte, 1000 ms: at
   * once when anything is there). A larger `minBytes` gathers more events per fetch when they flow, and
   * holds a lone event up to `maxWaitMs`. disconnect() waits for the fetch in flight, so `maxWaitMs` is
   * also how long a stopping service lingers.
   */
  fetch?: { minBytes: number; maxWaitMs: number };
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
 *
 * This class runs the loop; the parts are the topic guard (topic-guard.ts), the chunk applier
 * (chunk-applier.ts), the offset committer (offset-committer.ts), the partition backoff
 * (partition-backoff.ts) and the dead-letter writer (dead-letter-writer.ts).
 */
export class IdempotentConsumer {
  private readonly consumer: Consumer;
  private readonly deadLetters: DeadLetterWriter;
  private readonly committer: OffsetCommitter;
  private readonly backoff: PartitionBackoff;
  private readonly applier: ChunkApplier;
  private readonly abort = new AbortController();
  private running = false;

  constructor(private readonly options: IdempotentConsumerOptions) {
    if (options.topics.length === 0) throw new AppError('NO_TOPICS', 'an IdempotentConsumer needs at least one topic');
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: true,
      minBytes: options.fetch?.minBytes ?? 1,
      maxWaitTimeInMs: options.fetch?.maxWaitMs ?? 1000,
      ...(options.sessionTimeoutMs ? { sessionTimeout: options.sessionTimeoutMs } : {}),
      ...(options.clientRetry
        ? { retry: { initialRetryTime: options.clientRetry.initialMs, maxRetryTime: options.clientRetry.maxMs } }
        : {}),
    });
    this.deadLetters = new DeadLetterWriter(options.kafka, options.groupId);
    this.committer = new OffsetCommitter(Math.max(0, options.commitIntervalMs ?? 1000));
    this.backoff = new PartitionBackoff(this.consumer);
    this.applier = new ChunkApplier(options, this.deadLetters);
  }

  async start(): Promise<void> {
    await ensureTopics(this.options.kafka, this.options);
    await this.deadLetters.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning ?? true });
    this.running = true;
    await this.consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 3,
      // Only what is applied (or dead-lettered) is resolved; kafkajs would otherwise resolve the whole batch.
      eachBatchAutoResolve: false,
      // kafkajs commits after every batch when it commits by itself: at a few events per batch that is an
      // offset commit (a write to __consumer_offsets) for every few events. Here each batch commits only
      // if `commitIntervalMs` has passed since the last commit (see OffsetCommitter).
      autoCommit: false,
      autoCommitInterval: this.committer.intervalMs,
      eachBatch: (payload) => this.committer.runBatch(payload.commitOffsetsIfNecessary, () => this.applyBatch(payload)),
    });
    // kafkajs commits nothing by itself now, not even when it leaves a generation: what this instance
    // resolved is committed as a rebalance begins (the old generation may still commit), and a crashed
    // runner's commit is tried once and dropped (its restart reads the group's committed offsets anew).
    this.consumer.on(this.consumer.events.REBALANCING, () => this.committer.onRebalancing());
    this.consumer.on(this.consumer.events.CRASH, () => this.committer.onCrash());
    this.committer.startIdleCommits();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.backoff.stop();
    this.committer.stopIdleCommits();
    if (this.running) {
      // Batches see the abort between chunks and return; then what they resolved is committed, so the
      // next owner of these partitions starts where this one stopped.
      await this.committer.drain();
      await this.consumer.disconnect();
    }
    this.running = false;
    await this.deadLetters.disconnect();
  }

  /** Whether stop() was called: the consumer is down because the service wants it so. */
  get stoppedOnPurpose(): boolean {
    return this.abort.signal.aborted;
  }

  /** The consumer, for callers that want its instrumentation events or to seek. */
  get kafkaConsumer(): Consumer {
    return this.consumer;
  }

  /** Changes the backoff of retries that start from now on (a live setting). */
  setRetry(retry: { minMs: number; maxMs: number }): void {
    this.options.retry = { ...retry };
  }

  /** Applies a batch chunk by chunk; true when a message of it was dead-lettered (and resolved). */
  private async applyBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<boolean> {
    const { topic, partition } = batch;
    const largest = this.options.maxBatchEvents ?? 100;
    let deadLettered = false;
    for (let from = 0; from < batch.messages.length;) {
      // A seek or a rebalance makes the rest of this batch stale: the next fetch starts over.
      if (!isRunning() || isStale() || this.abort.signal.aborted) return deadLettered;
      const size = this.backoff.chunkSize(topic, partition, largest);
      const chunk = batch.messages.slice(from, from + size);
      const { stop, deadLettered: sent } = await this.applier.apply(topic, partition, chunk);
      deadLettered ||= sent;
      const settled = stop?.index ?? chunk.length;
      // Committed when this batch returns (see OffsetCommitter.runBatch).
      if (settled > 0) resolveOffset(chunk[settled - 1]!.offset);
      if (stop) {
        this.backoff.failed(topic, partition, size, largest);
        this.retryLater(topic, partition, chunk[stop.index]!.offset, stop);
        return deadLettered;
      }
      this.backoff.succeeded(topic, partition, size, largest);
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
    // Read per failure, so a backoff changed live applies to the next retry.
    const { minMs = 100, maxMs = 10_000 } = this.options.retry ?? {};
    const { attempt, delayMs } = this.backoff.nextRetry(topic, partition, minMs, maxMs);
    const { code, message } = describeError(stop.error);
    this.options.logger.warn(
      { topic, partition, offset, eventId: stop.event?.eventId, attempt, delayMs, code, reason: message },
      'transient failure, partition paused for a retry',
    );
    this.options.onEvent?.(stop.event, 'retried', 0);
    this.backoff.pause(topic, partition, delayMs);
  }
}
