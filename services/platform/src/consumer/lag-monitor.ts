import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import { readToEnds, waitingDeadLetters, type PartitionEnds } from './dead-letters.js';

export interface ConsumerMonitorOptions {
  kafka: Kafka;
  groupId: string;
  /** The topics the group consumes; their dead letters are on `<topic>.dlq`. */
  topics: string[];
  registry: Registry;
  logger: Logger;
  /** Time between two rounds (default 10 s). */
  intervalMs?: number;
  /** The longest a DLQ read may take before the round gives up on it (default 20 s). */
  readTimeoutMs?: number;
}

/** A partition's offsets: what the group committed ("-1" when nothing yet) and the partition's watermarks. */
export interface PartitionOffsets {
  committed: string;
  low: string;
  high: string;
}

/**
 * Messages the group has still to read on a partition. A group that has committed nothing, or whose
 * offset the retention has passed, starts at the partition's beginning (the consumers subscribe
 * fromBeginning), so everything still there counts.
 */
export function partitionLag({ committed, low, high }: PartitionOffsets): number {
  const from = BigInt(committed) < BigInt(low) ? BigInt(low) : BigInt(committed);
  const lag = BigInt(high) - from;
  return lag > 0n ? Number(lag) : 0;
}

/**
 * Reports, every `intervalMs`, a consumer group's lag per partition and how many of its dead-lettered
 * messages wait in the DLQs of its topics, from Kafka itself (the admin API and the DLQ topics), not from
 * the consumer: a consumer that is stuck, retrying or paused is exactly what these numbers must show.
 * Names are kafka-exporter's (`kafka_consumergroup_lag`, `kafka_consumergroup_current_offset`), so the
 * usual dashboards apply. Every instance of a group reports the same values: aggregate with max().
 *
 * A DLQ topic is read again only when one of its partitions' watermarks moved since the last count
 * (dead letters and re-drives are rare), by a throw-away consumer group deleted afterwards. A round that
 * fails (Kafka unreachable) keeps the last values and is logged once until a round succeeds again.
 */
export class ConsumerMonitor {
  private readonly lag: Gauge<'consumergroup' | 'topic' | 'partition'>;
  private readonly committed: Gauge<'consumergroup' | 'topic' | 'partition'>;
  private readonly deadLetters: Gauge<'consumergroup' | 'topic'>;
  private readonly abort = new AbortController();
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  /** The DLQ partitions' watermarks when they were last counted. */
  private countedAt: string | undefined;
  private failing = false;

  constructor(private readonly options: ConsumerMonitorOptions) {
    const registers = [options.registry];
    this.lag = new Gauge({
      name: 'kafka_consumergroup_lag',
      help: 'Messages the consumer group has still to read, per partition (from Kafka; max() across instances)',
      labelNames: ['consumergroup', 'topic', 'partition'],
      registers,
    });
    this.committed = new Gauge({
      name: 'kafka_consumergroup_current_offset',
      help: 'The offset the consumer group committed, per partition (absent before its first commit)',
      labelNames: ['consumergroup', 'topic', 'partition'],
      registers,
    });
    this.deadLetters = new Gauge({
      name: 'saga_dlq_messages',
      help: 'Messages this consumer group dead-lettered that wait on the DLQ topic, not re-driven yet (max() across instances)',
      labelNames: ['consumergroup', 'topic'],
      registers,
    });
  }

  /** Runs the first round now and the next ones every `intervalMs`, until `stop()`. */
  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    // Closing the client first ends a request in flight: a round waiting on an unreachable Kafka would
    // otherwise hold the shutdown for kafkajs' retries.
    await this.dropAdmin();
    await this.round;
  }

  /** One round: the lag of every partition, then the DLQ counts. Resolves even when it failed. */
  async poll(): Promise<void> {
    try {
      const admin = await this.connectedAdmin();
      await this.updateLag(admin);
      await this.updateDeadLetters(admin);
      if (this.failing) this.options.logger.info({ groupId: this.options.groupId }, 'consumer lag and DLQ counts read again');
      this.failing = false;
    } catch (error) {
      if (this.abort.signal.aborted) return;
      if (!this.failing) {
        this.options.logger.warn(
          { err: error, groupId: this.options.groupId },
          'reading consumer lag or DLQ counts failed; last values kept, retrying',
        );
      }
      this.failing = true;
      // A fresh client next round, rather than counting on this one to reconnect by itself.
      await this.dropAdmin();
    }
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.round = this.poll().finally(() => {
        if (!this.abort.signal.aborted) this.schedule(this.options.intervalMs ?? 10_000);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async connectedAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.options.kafka.admin();
      await admin.connect();
      if (this.abort.signal.aborted) {
        // stop() ran while it connected: it closed nothing, so this round does.
        await admin.disconnect();
        throw new Error('stopped');
      }
      this.admin = admin;
    }
    return this.admin;
  }

  private async dropAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }

  private async updateLag(admin: Admin): Promise<void> {
    const { groupId, topics } = this.options;
    const committed = await admin.fetchOffsets({ groupId, topics });
    const watermarks = await Promise.all(topics.map(async (topic) => ({ topic, partitions: await admin.fetchTopicOffsets(topic) })));
    // Reset and set with no await in between: a scrape sees one round's values, and a partition or topic
    // that is gone disappears.
    this.lag.reset();
    this.committed.reset();
    for (const { topic, partitions } of watermarks) {
      const offsets = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
      for (const { partition, low, high } of partitions) {
        const offset = offsets.find((entry) => entry.partition === partition)?.offset ?? '-1';
        const labels = { consumergroup: groupId, topic, partition: String(partition) };
        this.lag.set(labels, partitionLag({ committed: offset, low, high }));
        if (BigInt(offset) >= 0n) this.committed.set(labels, Number(offset));
      }
    }
  }

  private async updateDeadLetters(admin: Admin): Promise<void> {
    const { kafka, groupId } = this.options;
    const dlqTopics = this.options.topics.map((topic) => `${topic}.dlq`);
    const ends: PartitionEnds = new Map();
    const marks: string[] = [];
    for (const topic of dlqTopics) {
      for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
        marks.push(`${topic}:${partition}:${low}-${high}`);
        if (BigInt(high) > BigInt(low)) ends.set(`${topic}:${partition}`, BigInt(high));
      }
    }
    const at = marks.join(',');
    if (at === this.countedAt) return;
    const readerGroup = `dlq-count-${groupId}-${randomUUID()}`;
    let records;
    try {
      records = await readToEnds(kafka, ends, {
        groupId: readerGroup,
        timeoutMs: this.options.readTimeoutMs ?? 20_000,
        signal: this.abort.signal,
      });
    } finally {
      // It committed nothing; this only tidies the broker's list of groups (an empty group without
      // offsets left behind by a stop goes by itself).
      if (ends.size > 0 && !this.abort.signal.aborted) await admin.deleteGroups([readerGroup]).catch(() => undefined);
    }
    const waiting = waitingDeadLetters(records, groupId, dlqTopics);
    this.deadLetters.reset();
    for (const [topic, count] of waiting) this.deadLetters.set({ consumergroup: groupId, topic }, count);
    this.countedAt = at;
  }
}

/** Starts a ConsumerMonitor (see there) for a service's consumer group; `stop()` it on shutdown. */
export function monitorConsumerGroup(options: ConsumerMonitorOptions): ConsumerMonitor {
  const monitor = new ConsumerMonitor(options);
  monitor.start();
  return monitor;
}
