import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';

export const kafka = new Kafka({
  clientId: 'saga-checks',
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  logLevel: logLevel.NOTHING,
});

export const sagaTopics = ['order.events', 'product.events', 'user.events'];

/** Each service's consumer group and the topics it reads, as its start.ts subscribes them. */
export const consumerGroups: Record<string, string[]> = {
  'order-service': ['product.events', 'user.events'],
  'product-service': ['order.events', 'user.events'],
  'user-service': ['product.events', 'order.events'],
};

/** An offset per partition per topic. */
export type Offsets = Map<string, Map<number, bigint>>;

async function withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Where the next message of each partition of `topics` will land, as of now. */
export function topicEnds(topics = sagaTopics): Promise<Offsets> {
  return withAdmin(async (admin) => {
    const ends: Offsets = new Map();
    for (const topic of topics) {
      ends.set(topic, new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)])));
    }
    return ends;
  });
}

/** How many messages the services' consumer groups have still to handle, over every topic they read. */
export function consumerLag(): Promise<number> {
  return withAdmin(async (admin) => {
    let total = 0;
    for (const [groupId, topics] of Object.entries(consumerGroups)) {
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        for (const end of ends) {
          const at = committed!.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
          total += Number(end.high) - Math.max(Number(at), 0);
        }
      }
    }
    return total;
  });
}

/**
 * Moves every service's consumer group back, on every topic it reads, to its earliest offsets or to
 * `offsets`. Kafka refuses it while a group has members: stop the service instances first.
 */
export function rewindGroups(to: 'earliest' | Offsets): Promise<void> {
  return withAdmin(async (admin) => {
    for (const [groupId, topics] of Object.entries(consumerGroups)) {
      for (const topic of topics) {
        if (to === 'earliest') {
          await admin.resetOffsets({ groupId, topic, earliest: true });
        } else {
          const partitions = [...(to.get(topic) ?? new Map<number, bigint>())].map(([partition, offset]) => ({
            partition,
            offset: String(offset),
          }));
          await admin.setOffsets({ groupId, topic, partitions });
        }
      }
    }
  });
}

/** One message as the saga's consumers see its envelope. */
export interface TopicEvent {
  topic: string;
  partition: number;
  offset: bigint;
  /** The order id. */
  key: string | null;
  eventId: string | null;
  eventType: string | null;
}

/**
 * Every message of the topics in `to` from the offsets in `from` (inclusive; 0 for a partition it does not
 * name) up to those in `to` (exclusive), read by a consumer group of its own.
 */
export async function readBetween(from: Offsets, to: Offsets, timeoutMs = 60_000): Promise<TopicEvent[]> {
  const start = (topic: string, partition: number) => from.get(topic)?.get(partition) ?? 0n;
  const pending = new Set<string>();
  for (const [topic, partitions] of to) {
    for (const [partition, end] of partitions) if (end > start(topic, partition)) pending.add(`${topic}/${partition}`);
  }
  if (pending.size === 0) return [];
  const events: TopicEvent[] = [];
  const consumer = kafka.consumer({ groupId: `saga-checks-read-${randomUUID()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...to.keys()], fromBeginning: true });
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const offset = BigInt(message.offset);
        const end = to.get(topic)?.get(partition) ?? 0n;
        if (offset < start(topic, partition) || offset >= end) return;
        const header = (name: string) => message.headers?.[name]?.toString() ?? null;
        events.push({
          topic,
          partition,
          offset,
          key: message.key?.toString() ?? null,
          eventId: header('eventId'),
          eventType: header('eventType'),
        });
        if (offset + 1n >= end) pending.delete(`${topic}/${partition}`);
        if (pending.size === 0) done();
      },
    });
    // Straight to the first offset wanted rather than through everything before it.
    for (const [topic, partitions] of to) {
      for (const [partition, end] of partitions)
        if (end > start(topic, partition)) consumer.seek({ topic, partition, offset: String(start(topic, partition)) });
    }
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`not every message read within ${timeoutMs} ms; left: ${[...pending].join(', ')}`)),
        timeoutMs,
      ).unref(),
    );
    await Promise.race([finished, timeout]);
    return events;
  } finally {
    await consumer.disconnect();
  }
}
