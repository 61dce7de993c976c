import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { headerText, loadEventSchemas, type EventCodec } from '@cdc-outbox-saga/platform';
import type { Admin, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { UsageError } from './command-line.js';
import type { Start } from './events-args.js';

/** One record of an event topic, its value decoded through the registry. */
export interface DecodedEvent {
  topic: string;
  partition: number;
  offset: string;
  /** Kafka's record timestamp (for these topics: when Connect produced it), ISO 8601. */
  timestamp: string;
  key: string | null;
  /** Every header, as text. */
  headers: Record<string, string>;
  /** The `eventType` header. */
  eventType: string | null;
  /** The decoded Avro value; null when it did not decode (then `decodeError` says why). */
  value: unknown;
  decodeError?: string;
}

/** What to read: where to start, whether to go on past the ends, which records to keep. */
export interface ReadPlan {
  topics: string[];
  start: Start;
  follow: boolean;
  /** Only records with this key. */
  key?: string | null;
  /** Only records with this `eventType` header. */
  type?: string | null;
}

export interface ReadSink {
  /**
   * Every kept record from the start positions up to the ends the partitions had when the read began,
   * sorted by timestamp (then topic, partition, offset); called once. Returning true stops the read.
   */
  backlog(events: DecodedEvent[]): boolean | void;
  /** With `follow`: each kept record after those ends, as it arrives. Returning true stops the read. */
  live(event: DecodedEvent): boolean | void;
}

/** The event types of the three services' schemas (services/<service>/schemas), for checking `--type`. */
export function knownEventTypes(): string[] | undefined {
  try {
    return ['order', 'product', 'user'].flatMap((service) => {
      const directory = fileURLToPath(new URL(`../../../${service}/schemas`, import.meta.url));
      return loadEventSchemas(directory, service).map((schema) => schema.type);
    });
  } catch {
    // Not in the repository's layout: any --type is taken as given.
    return undefined;
  }
}

/** Every header that has a value, as text (`headerText` of each). */
const headerTexts = (headers: IHeaders | undefined): Record<string, string> =>
  Object.fromEntries(
    Object.keys(headers ?? {}).flatMap((name) => {
      const text = headerText(headers, name);
      return text === null ? [] : [[name, text]];
    }),
  );

/** A record as printed: the value decoded with the schema its id names, fetched from the registry once. */
export async function decodeRecord(codec: EventCodec, topic: string, partition: number, message: KafkaMessage): Promise<DecodedEvent> {
  const headers = headerTexts(message.headers);
  const event: DecodedEvent = {
    topic,
    partition,
    offset: message.offset,
    timestamp: new Date(Number(message.timestamp)).toISOString(),
    key: message.key?.toString() ?? null,
    headers,
    eventType: headers.eventType ?? null,
    value: null,
  };
  // A null value (a DLQ topic's re-drive marker) has nothing to decode.
  if (message.value === null) return event;
  try {
    // Through JSON: avsc hands back nested records as instances of generated classes.
    event.value = JSON.parse(JSON.stringify((await codec.decode(message.value)).payload));
  } catch (error) {
    event.decodeError = (error as Error).message;
  }
  return event;
}

export function compareEvents(a: DecodedEvent, b: DecodedEvent): number {
  const byTime = Date.parse(a.timestamp) - Date.parse(b.timestamp);
  if (byTime !== 0) return byTime;
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  const byOffset = BigInt(a.offset) - BigInt(b.offset);
  return byOffset < 0n ? -1 : byOffset > 0n ? 1 : 0;
}

export interface ReadOptions {
  /** Ends the read, as the sink asking to stop does (Ctrl-C). */
  signal?: AbortSignal;
  /** The throw-away group to read as (default: a new `throwawayGroupId()`). */
  groupId?: string;
  backlogTimeoutMs?: number;
}

/** A consumer group name no one else uses: `events-cli-<uuid>`. */
export const throwawayGroupId = () => `events-cli-${randomUUID()}`;

/** `topic:partition` → offset. */
type Positions = Map<string, bigint>;

/**
 * Where each partition's read starts and where its backlog ends (its high watermark now). `--since` uses
 * the broker's time index (ListOffsets by timestamp): the first offset at or after that time, or the end.
 * Unknown topics are a usage error.
 */
export async function positions(admin: Admin, topics: string[], start: Start): Promise<{ starts: Positions; ends: Positions }> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !existing.has(topic));
  if (missing.length > 0) throw new UsageError(`no such topic: ${missing.join(', ')}`);
  const starts: Positions = new Map();
  const ends: Positions = new Map();
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    const byTime = start.from === 'time' ? await admin.fetchTopicOffsetsByTimestamp(topic, start.at) : [];
    for (const { partition, low, high } of offsets) {
      const key = `${topic}:${partition}`;
      ends.set(key, BigInt(high));
      if (start.from === 'beginning') starts.set(key, BigInt(low));
      else if (start.from === 'end') starts.set(key, BigInt(high));
      else {
        const found = byTime.find((p) => p.partition === partition)?.offset;
        starts.set(key, found === undefined ? BigInt(high) : BigInt(found) > BigInt(low) ? BigInt(found) : BigInt(low));
      }
    }
  }
  return { starts, ends };
}

/**
 * Reads the plan's topics and hands the kept records to `sink`, until the backlog is done (without
 * `follow`), the sink says stop, or the signal aborts (Ctrl-C). A backlog not read to its ends within
 * `backlogTimeoutMs` fails the read.
 *
 * How it avoids a consumer group others see: kafkajs has no group-less `assign`, so this is a consumer of
 * a throw-away group (`events-cli-<uuid>`) that never commits, seeks every partition to its start position
 * (from the beginning, the end, or by timestamp via ListOffsets), and is deleted with `deleteGroups` when
 * the read ends, Ctrl-C included. No service's committed position is touched.
 */
export async function readEvents(
  kafka: Kafka,
  codec: EventCodec,
  plan: ReadPlan,
  sink: ReadSink,
  options: ReadOptions = {},
): Promise<void> {
  const { signal, groupId = throwawayGroupId(), backlogTimeoutMs = 120_000 } = options;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { starts, ends } = await positions(admin, plan.topics, plan.start);
    const behind = new Set([...starts].filter(([key, at]) => at < ends.get(key)!).map(([key]) => key));
    const backlog: DecodedEvent[] = [];
    const early: DecodedEvent[] = []; // live records of partitions caught up before the others
    const next = new Map(starts);
    let backlogDone = false;
    let stopped = false;
    const keep = (message: KafkaMessage) =>
      (!plan.key || message.key?.toString() === plan.key) && (!plan.type || message.headers?.eventType?.toString() === plan.type);

    const finishBacklog = (): boolean => {
      backlogDone = true;
      if (sink.backlog(backlog.sort(compareEvents)) === true || !plan.follow) return true;
      return early.some((event) => sink.live(event) === true);
    };
    if (behind.size === 0 && (finishBacklog() || signal?.aborted)) return;

    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
    await consumer.connect();
    try {
      await new Promise<void>((resolve, reject) => {
        const finish = (error?: Error) => {
          stopped = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', aborted);
          if (error) reject(error);
          else resolve();
        };
        const aborted = () => finish();
        const timer = backlogDone
          ? undefined
          : setTimeout(() => {
              if (!backlogDone)
                finish(new Error(`reading ${[...behind].join(', ')} did not reach their ends within ${backlogTimeoutMs / 1000} s`));
            }, backlogTimeoutMs);
        if (signal?.aborted) return finish();
        signal?.addEventListener('abort', aborted, { once: true });
        // A crash kafkajs restarts from by itself (a retriable error) is waited out.
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          if (!payload.restart) finish(payload.error);
        });
        consumer
          .subscribe({ topics: plan.topics, fromBeginning: true })
          .then(() =>
            consumer.run({
              autoCommit: false,
              eachMessage: async ({ topic, partition, message }) => {
                const key = `${topic}:${partition}`;
                const offset = BigInt(message.offset);
                // Before the seek takes effect a fetch may start elsewhere: skip what is before the start
                // or was seen already.
                if (stopped || offset < (next.get(key) ?? 0n)) return;
                next.set(key, offset + 1n);
                const inBacklog = offset < (ends.get(key) ?? 0n);
                if (!inBacklog && !plan.follow) return;
                const event = keep(message) ? await decodeRecord(codec, topic, partition, message) : undefined;
                if (stopped) return;
                if (inBacklog) {
                  if (event) backlog.push(event);
                  if (offset + 1n >= ends.get(key)!) behind.delete(key);
                  if (behind.size === 0 && !backlogDone && finishBacklog()) finish();
                } else if (event) {
                  if (!backlogDone) early.push(event);
                  else if (sink.live(event) === true) finish();
                }
              },
            }),
          )
          .then(() => {
            for (const [key, offset] of starts) {
              const at = key.lastIndexOf(':');
              consumer.seek({ topic: key.slice(0, at), partition: Number(key.slice(at + 1)), offset: String(offset) });
            }
          })
          .catch((error: Error) => finish(error));
      });
    } finally {
      await consumer.disconnect();
    }
  } finally {
    // It never committed anything; this only takes its name off the broker's group list.
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
