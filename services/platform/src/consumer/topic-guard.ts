import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { AppError } from '../errors.js';
import { deadLetterTopic } from './dead-letter-writer.js';

// Not a named export Node's CommonJS detection finds in kafkajs.
const { ConfigResourceTypes } = kafkajs;

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

/** What `ensureTopics` needs to know: the consumer's topics and settings of the same names. */
export interface TopicGuardOptions {
  topics: string[];
  /** Partitions of a topic that has to be created (default 3). */
  partitions?: number;
  /** The processed-events retention (hours); when given, topics whose records can outlive it are refused. */
  dedupeWindowHours?: number;
}

/**
 * Creates the topics a consumer reads (and their DLQs) if they do not exist yet, with the partition count
 * Connect's topic creation uses, so a consumer started before the first event does not fail to
 * subscribe. Existing topics are left as they are. With `dedupeWindowHours`, throws DEDUPE_WINDOW_TOO_SHORT
 * when a topic read can keep a record longer than that (see `dedupeWindowProblems`).
 */
export async function ensureTopics(kafka: Kafka, options: TopicGuardOptions): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = options.topics.flatMap((topic) => [topic, deadLetterTopic(topic)]).filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: options.partitions ?? 3 })),
        waitForLeaders: true,
      });
    }
    const windowHours = options.dedupeWindowHours;
    if (windowHours !== undefined) {
      const problems = dedupeWindowProblems(windowHours, await retentionOf(admin, options.topics));
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

/** The effective retention.ms and segment.ms of `topics` (topic overrides or broker defaults). */
async function retentionOf(admin: Admin, topics: string[]): Promise<TopicRetention[]> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({
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
