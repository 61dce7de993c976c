import { randomUUID } from 'node:crypto';
import { readToEnds, type PartitionEnds } from '@cdc-outbox-saga/platform';
import { Partitioners, type Kafka } from 'kafkajs';
import {
  coordinatesText,
  foldDlq,
  isDlqTopic,
  markerMessage,
  type Coordinates,
  type DlqEntry,
  type DlqRecord,
  type RedrivePlan,
} from './dlq.js';
import { UsageError } from './command-line.js';

/** The DLQ topics there are (`*.dlq`), or the ones asked for, which must exist. */
export async function dlqTopics(kafka: Kafka, wanted: string[] = []): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    if (wanted.length === 0) return [...existing].filter(isDlqTopic).sort();
    const missing = wanted.filter((topic) => !existing.has(topic));
    if (missing.length > 0) throw new UsageError(`no such topic: ${missing.join(', ')}`);
    return [...new Set(wanted)].sort();
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every record of `topics`, from the beginning of each partition to its high watermark when the read began,
 * and not one further. Read by a consumer of a group of its own (random id, no offsets committed, deleted
 * afterwards): kafkajs has no group-less fetch, and no service's committed position is touched.
 */
export async function readTopics(kafka: Kafka, topics: string[], timeoutMs = 60_000): Promise<DlqRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends: PartitionEnds = new Map();
    for (const topic of topics) {
      for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(high) > BigInt(low)) ends.set(`${topic}:${partition}`, BigInt(high));
      }
    }
    const groupId = `dlq-cli-${randomUUID()}`;
    try {
      return await readToEnds(kafka, ends, { groupId, timeoutMs });
    } finally {
      // It never committed anything; this only tidies the broker's group list.
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
  } finally {
    await admin.disconnect();
  }
}

/** The dead-lettered messages of `topics`, with their re-drives. */
export async function readDlq(kafka: Kafka, topics: string[]): Promise<DlqEntry[]> {
  return foldDlq(await readTopics(kafka, topics));
}

export interface RedriveResult {
  /** The DLQ records this produce re-drove. */
  from: string[];
  eventType: string | null;
  eventId: string | null;
  key: string | null;
  /** Where the copy landed: `<topic>:<partition>:<offset>`. */
  to: string;
  /** The partition the original was on, for comparison: they differ only if the topic's partition count changed. */
  originalPartition: number | null;
}

/**
 * Carries out a plan, one step after the other, in the plan's order: the copy to the original topic with an
 * idempotent producer and acks from all replicas, then, once that is acknowledged, a marker per re-driven DLQ
 * record. A crash between the two leaves the message re-driven but unmarked: a later run re-drives it once
 * more, which the consumers' dedupe makes harmless.
 */
export async function redrive(
  kafka: Kafka,
  plan: RedrivePlan,
  now: () => Date = () => new Date(),
  onStep: (result: RedriveResult) => void = () => undefined,
): Promise<RedriveResult[]> {
  if (plan.steps.length === 0) return [];
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // Murmur2, as Java clients and so Connect: a keyed message lands on the partition of that order's events.
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const results: RedriveResult[] = [];
  try {
    for (const step of plan.steps) {
      const [metadata] = await producer.send({ topic: step.topic, acks: -1, messages: [step.message] });
      const offset = metadata?.baseOffset ?? metadata?.offset;
      if (!metadata || offset === undefined) throw new Error(`producing to ${step.topic} returned no offset`);
      const to: Coordinates = { topic: step.topic, partition: metadata.partition, offset };
      const at = now();
      for (const entry of step.entries) {
        await producer.send({ topic: entry.topic, acks: -1, messages: [markerMessage(entry, to, at)] });
      }
      const [first] = step.entries as [DlqEntry, ...DlqEntry[]];
      const result: RedriveResult = {
        from: step.entries.map((entry) => entry.id),
        eventType: first.eventType,
        eventId: first.eventId,
        key: first.key,
        to: coordinatesText(to),
        originalPartition: first.original.partition,
      };
      results.push(result);
      onStep(result);
    }
  } finally {
    await producer.disconnect();
  }
  return results;
}
