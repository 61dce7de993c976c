import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../errors.js';

/** One event type: its Avro schema and where it is published. */
export interface EventSchema {
  /** `<Aggregate><PastTense>`, the Avro record's name, also the `eventType` header. */
  type: string;
  /** Routes the outbox row to the topic `<aggregateType>.events`. */
  aggregateType: string;
  topic: string;
  /** Subject under the TopicRecordNameStrategy: `<topic>-<namespace>.<name>`. */
  subject: string;
  /** The schema text as registered. */
  schema: string;
}

interface AvroRecordSchema {
  type: string;
  name?: string;
  namespace?: string;
}

export function topicFor(aggregateType: string): string {
  return `${aggregateType}.events`;
}

/**
 * Reads every `.avsc` file of a folder: one file per event type, each an Avro record. Several event
 * types share one topic (all of an aggregate's events, keyed by its id, stay in order), so the subject
 * names follow the TopicRecordNameStrategy rather than the one-schema-per-topic default.
 */
export function loadEventSchemas(directory: string, aggregateType: string): EventSchema[] {
  const files = readdirSync(directory).filter((file) => file.endsWith('.avsc'));
  if (files.length === 0) throw new AppError('NO_SCHEMAS', `no .avsc files in ${directory}`);
  return files.sort().map((file) => {
    const text = readFileSync(join(directory, file), 'utf8');
    let parsed: AvroRecordSchema;
    try {
      parsed = JSON.parse(text) as AvroRecordSchema;
    } catch (cause) {
      throw new AppError('INVALID_SCHEMA', `${file} is not JSON`, { cause });
    }
    if (parsed.type !== 'record' || !parsed.name || !parsed.namespace) {
      throw new AppError('INVALID_SCHEMA', `${file} must be a namespaced Avro record`);
    }
    const topic = topicFor(aggregateType);
    return {
      type: parsed.name,
      aggregateType,
      topic,
      subject: `${topic}-${parsed.namespace}.${parsed.name}`,
      schema: JSON.stringify(parsed),
    } satisfies EventSchema;
  });
}
