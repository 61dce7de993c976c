import type { IHeaders, Kafka } from 'kafkajs';
import { DeadLetterHeaders, headerText } from './headers.js';

/** What the count needs of one record of a DLQ topic. */
export interface DeadLetterRecord {
  topic: string;
  partition: number;
  offset: string;
  headers: IHeaders;
}

/** A record as `readToEnds` returns it: where it is and all it carries. */
export interface ReadRecord extends DeadLetterRecord {
  key: Buffer | null;
  value: Buffer | null;
  /** Kafka's record timestamp, ms since the epoch, as a string. */
  timestamp: string;
}

/**
 * How many messages `group` dead-lettered that still wait, per DLQ topic: its records (the consumer writes
 * `dlq.consumer.group` on each) that are not markers and that no marker on their topic names (the DLQ tool
 * appends a marker with `dlq.redrive.of` = `<partition>:<offset>` of the message it re-drove). A message
 * re-driven and failed again is a new record, so it waits again. Every topic of `topics` gets a count, 0
 * when nothing waits.
 */
export function waitingDeadLetters(records: DeadLetterRecord[], group: string, topics: string[]): Map<string, number> {
  const redriven = new Set<string>();
  for (const record of records) {
    const of = headerText(record.headers, DeadLetterHeaders.redriveOf);
    if (of !== null) redriven.add(`${record.topic}:${of}`);
  }
  const waiting = new Map<string, number>(topics.map((topic) => [topic, 0]));
  for (const record of records) {
    if (headerText(record.headers, DeadLetterHeaders.redriveOf) !== null) continue;
    if (headerText(record.headers, DeadLetterHeaders.consumerGroup) !== group) continue;
    if (redriven.has(`${record.topic}:${record.partition}:${record.offset}`)) continue;
    waiting.set(record.topic, (waiting.get(record.topic) ?? 0) + 1);
  }
  return waiting;
}

/** "topic:partition" → the offset after the last record to read. */
export type PartitionEnds = Map<string, bigint>;

/**
 * Every record of the partitions in `ends`, from the beginning of each up to its end, and not one further.
 * Read by a consumer of a throw-away group (kafkajs has no group-less fetch) that commits nothing, so no
 * service's position is touched; the caller deletes `groupId` afterwards. DLQ topics are written without
 * transactions, so each partition's last offset before its end is a record, and the read reaches it.
 */
export async function readToEnds(
  kafka: Kafka,
  ends: PartitionEnds,
  options: { groupId: string; timeoutMs: number; signal?: AbortSignal },
): Promise<ReadRecord[]> {
  const left = new Map(ends);
  if (left.size === 0) return [];
  const topics = [...new Set([...left.keys()].map((key) => key.slice(0, key.lastIndexOf(':'))))];
  const consumer = kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', aborted);
        if (error) reject(error);
        else resolve();
      };
      const aborted = () => finish(new Error('reading the DLQ topics was aborted'));
      const timer = setTimeout(
        () => finish(new Error(`reading ${[...left.keys()].join(', ')} did not reach their ends within ${options.timeoutMs / 1000} s`)),
        options.timeoutMs,
      );
      if (options.signal?.aborted) return aborted();
      options.signal?.addEventListener('abort', aborted, { once: true });
      // A crash kafkajs restarts from by itself (a retriable error) is waited out; the timer bounds it.
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) finish(payload.error);
      });
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const key = `${topic}:${partition}`;
            const end = left.get(key);
            if (end === undefined) return;
            const offset = BigInt(message.offset);
            if (offset < end) {
              const { key, value, timestamp } = message;
              records.push({ topic, partition, offset: message.offset, headers: message.headers ?? {}, key, value, timestamp });
            }
            if (offset + 1n >= end) {
              left.delete(key);
              if (left.size === 0) finish();
            }
          },
        })
        .catch((error: Error) => finish(error));
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
