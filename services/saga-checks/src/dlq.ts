import { UsageError } from './command-line.js';
import { DeadLetterHeaders as DlqHeaders, headerText } from '@cdc-outbox-saga/platform';
import type { IHeaders, Message } from 'kafkajs';

/**
 * The dead-letter queues and their way back: what `npm run dlq` reads, decides and writes, without any I/O
 * (that is in dlq-kafka.ts), so that all of it can be unit-tested.
 *
 * A DLQ topic `<topic>.dlq` holds the messages a consumer group could not apply for a permanent reason, as
 * the platform's IdempotentConsumer writes them (services/platform/src/consumer/dead-letter-writer.ts):
 * the original key, value and headers plus `dlq.*` headers saying why, where from and who failed.
 * Re-driving one produces the original key, value and headers again to its original topic, then appends a
 * **marker** record to the same DLQ topic and partition (null value, `dlq.redrive.of =
 * <partition>:<offset>`): the DLQ topic itself is the log of failures and re-drives, no other state.
 *
 * The command line is read in dlq-args.ts, the listing written in dlq-format.ts.
 */

/** The `dlq.*` header names, as the platform defines them (services/platform/src/consumer/headers.ts). */
export { DlqHeaders };

export const DLQ_SUFFIX = '.dlq';

/**
 * A DLQ record older than this is not re-driven without `--allow-old`. Re-driving reaches every consumer
 * group of the original topic; the groups that applied the event long ago find its id in `processed_events`
 * only while their record lives (`kafka.dedupeRetentionHours`, 192 h, at least 169 h). 168 h (the topics'
 * retention) leaves a day for the groups that applied it later than the one that failed it.
 */
export const DEFAULT_MAX_AGE_HOURS = 168;

/** Where a record is: `<topic>:<partition>:<offset>`. */
export interface Coordinates {
  topic: string;
  partition: number;
  offset: string;
}

/** One record read from a DLQ topic, as the reader hands it over. */
export interface DlqRecord extends Coordinates {
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  /** Kafka's record timestamp, ms since the epoch, as a string. */
  timestamp: string;
}

/** A re-drive recorded by a marker. */
export interface Redrive {
  /** The marker itself. */
  marker: string;
  at: string | null;
  /** Where the re-driven copy went, `<topic>:<partition>:<offset>`. */
  to: string | null;
  count: number | null;
}

/** A dead-lettered message, with what the markers say about it. */
export interface DlqEntry extends Coordinates {
  /** `<topic>:<partition>:<offset>`, what `redrive` takes. */
  id: string;
  eventType: string | null;
  eventId: string | null;
  /** The Kafka key: the order id. */
  key: string | null;
  consumerGroup: string | null;
  failedAt: string | null;
  error: { code: string | null; class: string | null; message: string | null };
  original: { topic: string | null; partition: number | null; offset: string | null };
  /** Set when this message was itself a re-driven copy that failed again: the DLQ record it came from. */
  redrivenFrom: string | null;
  /** Re-drives of this event before the one that failed into this record (from its headers). */
  earlierRedrives: number;
  redrives: Redrive[];
  redriven: boolean;
  /** The record as read, for re-driving. */
  record: DlqRecord;
}

export const isDlqTopic = (topic: string) => topic.endsWith(DLQ_SUFFIX) && topic.length > DLQ_SUFFIX.length;

export const coordinatesText = (c: Coordinates) => `${c.topic}:${c.partition}:${c.offset}`;

const intOrNull = (text: string | null) => (text !== null && /^\d+$/.test(text) ? Number(text) : null);

export const isMarker = (record: DlqRecord) => headerText(record.headers, DlqHeaders.redriveOf) !== null;

/**
 * Turns the records of DLQ topics into their dead-lettered messages, in topic, partition and offset order,
 * each with the re-drives its markers record. Markers naming a record that is not there (gone with the
 * retention) are ignored.
 */
export function foldDlq(records: DlqRecord[]): DlqEntry[] {
  const sorted = [...records].sort(compareCoordinates);
  const redrives = new Map<string, Redrive[]>();
  for (const record of sorted.filter(isMarker)) {
    const of = `${record.topic}:${headerText(record.headers, DlqHeaders.redriveOf)}`;
    redrives.set(of, [
      ...(redrives.get(of) ?? []),
      {
        marker: coordinatesText(record),
        at: headerText(record.headers, DlqHeaders.redriveAt),
        to: headerText(record.headers, DlqHeaders.redriveTo),
        count: intOrNull(headerText(record.headers, DlqHeaders.redriveCount)),
      },
    ]);
  }
  return sorted
    .filter((record) => !isMarker(record))
    .map((record) => {
      const h = (name: string) => headerText(record.headers, name);
      const id = coordinatesText(record);
      const done = redrives.get(`${record.topic}:${record.partition}:${record.offset}`) ?? [];
      return {
        id,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        eventType: h('eventType'),
        eventId: h('eventId'),
        key: record.key?.toString() ?? null,
        consumerGroup: h(DlqHeaders.consumerGroup),
        failedAt: h(DlqHeaders.failedAt) ?? (record.timestamp ? new Date(Number(record.timestamp)).toISOString() : null),
        error: { code: h(DlqHeaders.errorCode), class: h(DlqHeaders.errorClass), message: h(DlqHeaders.errorMessage) },
        original: {
          topic: h(DlqHeaders.originalTopic),
          partition: intOrNull(h(DlqHeaders.originalPartition)),
          offset: h(DlqHeaders.originalOffset),
        },
        redrivenFrom: h(DlqHeaders.redrivenFrom),
        earlierRedrives: intOrNull(h(DlqHeaders.redriveCount)) ?? 0,
        redrives: done,
        redriven: done.length > 0,
        record,
      };
    });
}

export function compareCoordinates(a: Coordinates, b: Coordinates): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  const diff = BigInt(a.offset) - BigInt(b.offset);
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}

/** One produce to an original topic, and the DLQ records it re-drives (one, or several groups' records of one event). */
export interface RedriveStep {
  entries: DlqEntry[];
  /** The topic it goes back to. */
  topic: string;
  message: Message;
}

export interface RedrivePlan {
  steps: RedriveStep[];
  skipped: Array<{ id: string; reason: string }>;
}

export interface PlanOptions {
  all: boolean;
  targets: Coordinates[];
  force: boolean;
  allowOld: boolean;
  now: Date;
  maxAgeHours?: number;
}

/**
 * Decides what to re-drive. Chosen coordinates are all or nothing: one that names no dead-lettered message
 * (unknown, a marker, no original topic, re-driven already without --force, too old without --allow-old)
 * throws, and nothing is produced. `--all` takes every message that is not re-driven yet (or every one with
 * --force) and lists the others as skipped. Records of several consumer groups for the same event on the
 * same original topic are re-driven once: one copy on the topic reaches every group.
 */
export function planRedrive(entries: DlqEntry[], options: PlanOptions): RedrivePlan {
  const maxAgeMs = (options.maxAgeHours ?? DEFAULT_MAX_AGE_HOURS) * 3600_000;
  const why = (entry: DlqEntry): string | undefined => {
    if (!entry.original.topic) return `it has no ${DlqHeaders.originalTopic} header: nowhere to re-drive it to`;
    if (entry.redriven && !options.force) {
      const last = entry.redrives.at(-1)!;
      return `re-driven already (${last.at ?? 'at an unknown time'} to ${last.to ?? '?'}); --force re-drives it again`;
    }
    const failed = entry.failedAt ? Date.parse(entry.failedAt) : NaN;
    if (!options.allowOld && Number.isFinite(failed) && options.now.getTime() - failed > maxAgeMs) {
      return `it failed at ${entry.failedAt}, more than ${maxAgeMs / 3600_000} h ago: the consumer groups that applied it may have forgotten its event id; --allow-old re-drives it anyway`;
    }
    return undefined;
  };

  let chosen: DlqEntry[];
  const skipped: RedrivePlan['skipped'] = [];
  if (options.all) {
    chosen = [];
    for (const entry of entries) {
      const reason = why(entry);
      if (reason) skipped.push({ id: entry.id, reason });
      else chosen.push(entry);
    }
  } else {
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    const problems: string[] = [];
    const seen = new Set<string>();
    chosen = [];
    for (const target of options.targets) {
      const id = coordinatesText(target);
      if (seen.has(id)) continue;
      seen.add(id);
      const entry = byId.get(id);
      if (!entry) {
        problems.push(`${id}: no dead-lettered message there (not in the topic, gone with its retention, or a re-drive marker)`);
        continue;
      }
      const reason = why(entry);
      if (reason) problems.push(`${id}: ${reason}`);
      else chosen.push(entry);
    }
    if (problems.length > 0) throw new UsageError(`nothing re-driven:\n  ${problems.join('\n  ')}`);
    chosen.sort(compareCoordinates);
  }

  // One copy per event and original topic; the order of the first record keeps the order of a key's events.
  const steps: RedriveStep[] = [];
  const byEvent = new Map<string, RedriveStep>();
  for (const entry of chosen) {
    const topic = entry.original.topic!;
    const eventKey = entry.eventId ? `${topic}\u0000${entry.eventId}` : undefined;
    const existing = eventKey ? byEvent.get(eventKey) : undefined;
    if (existing) {
      existing.entries.push(entry);
      continue;
    }
    const step: RedriveStep = { entries: [entry], topic, message: redriveMessage(entry, options.now) };
    steps.push(step);
    if (eventKey) byEvent.set(eventKey, step);
  }
  return { steps, skipped };
}

/**
 * The message that goes back to the original topic: the original key, value and headers (every `dlq.*`
 * header dropped), plus where it came from and how many times the event has been re-driven. No partition:
 * the producer's murmur2 partitioner puts the key where Connect puts that order's events. A message without
 * a key goes back to its original partition.
 */
export function redriveMessage(entry: DlqEntry, now: Date): Message {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(entry.record.headers)) {
    if (!name.startsWith('dlq.') && value !== undefined) headers[name] = value;
  }
  headers[DlqHeaders.redrivenFrom] = entry.id;
  headers[DlqHeaders.redrivenAt] = now.toISOString();
  headers[DlqHeaders.redriveCount] = String(redriveCount(entry));
  const message: Message = { key: entry.record.key, value: entry.record.value, headers };
  if (entry.record.key === null && entry.original.partition !== null) message.partition = entry.original.partition;
  return message;
}

/** This event's re-drives so far, the one being made included. */
export const redriveCount = (entry: DlqEntry) => entry.earlierRedrives + entry.redrives.length + 1;

/** The marker that records a re-drive of `entry` whose copy landed at `to`; same partition as the entry. */
export function markerMessage(entry: DlqEntry, to: Coordinates, now: Date): Message {
  return {
    partition: entry.partition,
    key: null,
    value: null,
    headers: {
      [DlqHeaders.redriveOf]: `${entry.partition}:${entry.offset}`,
      [DlqHeaders.redriveTo]: coordinatesText(to),
      [DlqHeaders.redriveAt]: now.toISOString(),
      [DlqHeaders.redriveCount]: String(redriveCount(entry)),
    },
  };
}
