import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import type { Knex } from 'knex';
import {
  EventCodec,
  OutboxWriter,
  createDatabase,
  createLogger,
  createSchemaRegistry,
  loadEventSchemas,
  migrateAs,
  type DatabaseSettings,
} from '../../src/index.js';
import { accountPassword, connectApiFromEnv, eurekaApiFromEnv, settings } from '@cdc-outbox-saga/local-stack';
import { schemaDir } from './paths.js';

export { schemaDir };

/** The stack's endpoints: `npm test` passes them in the environment; these defaults match `npm start`. */
export const stack = {
  dbHost: process.env.DB_HOST ?? '127.0.0.1',
  dbPort: Number(process.env.DB_PORT ?? 3307),
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  registryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
  /** Kafka Connect's REST API and its user (HTTP basic). */
  connect: connectApiFromEnv(),
  /** Eureka's REST API and its user (HTTP basic). */
  eureka: eurekaApiFromEnv(),
};

export const logger = createLogger('platform-test', process.env.LOG_LEVEL ?? 'error');

/** A name no other test file (or earlier run) uses: topics, groups and tables are per file. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** A service's database settings as `role`: its runtime account (rows only) or its migration account (DDL too). */
function databaseSettings(service: 'order' | 'product' | 'user', role: 'runtime' | 'migration', poolMax: number): DatabaseSettings {
  const database = settings.databases.find((d) => d.service === service)!;
  return {
    host: stack.dbHost,
    port: stack.dbPort,
    user: database[role].user,
    password: accountPassword(database[role]),
    database: database.name,
    pool: { min: 0, max: poolMax },
  };
}

/**
 * A service database as the service's runtime account, migrated first with the platform's tables as its
 * migration account (as a service starts).
 */
export async function serviceDatabase(service: 'order' | 'product' | 'user', poolMax = 10): Promise<Knex> {
  await migrateAs(databaseSettings(service, 'migration', 2));
  return createDatabase(databaseSettings(service, 'runtime', poolMax));
}

/** A service database as its migration account: for a test that makes or drops a table of its own. */
export function migrationDatabase(service: 'order' | 'product' | 'user'): Knex {
  return createDatabase(databaseSettings(service, 'migration', 2));
}

export function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: stack.brokers, logLevel: logLevel.NOTHING });
}

/**
 * An outbox writer for the test event on the aggregate type `aggregateType` (so the topic
 * `<aggregateType>.events` belongs to the calling test file alone), with its schema registered.
 */
export async function probeWriter(aggregateType: string): Promise<{ writer: OutboxWriter; codec: EventCodec }> {
  const schemas = loadEventSchemas(schemaDir, aggregateType);
  const codec = new EventCodec(createSchemaRegistry(stack.registryUrl));
  await codec.register(schemas);
  return { writer: new OutboxWriter(codec, schemas), codec };
}

/** Creates the topic as Connect would (3 partitions) unless it exists, so subscribing never races it. */
export async function ensureTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export interface Collected {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/**
 * Reads a topic from the beginning with a fresh group until `done` holds for what has arrived, or
 * fails after `timeoutMs`. Returns every message read.
 */
export async function collect(
  kafka: Kafka,
  topic: string,
  done: (messages: Collected[]) => boolean,
  timeoutMs = 60_000,
): Promise<Collected[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('collector'), allowAutoTopicCreation: true });
  const messages: Collected[] = [];
  await ensureTopic(kafka, topic);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${topic}: condition not met after ${timeoutMs} ms (${messages.length} messages read)`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ topic: t, partition, message }) => {
          messages.push({ topic: t, partition, message });
          if (done(messages)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/** Reads `topic` until a message matching `match` has arrived, and returns that message. */
export async function collectFirst(
  kafka: Kafka,
  topic: string,
  match: (message: KafkaMessage) => boolean,
  timeoutMs?: number,
): Promise<Collected> {
  const all = await collect(kafka, topic, (got) => got.some((m) => match(m.message)), timeoutMs);
  return all.find((m) => match(m.message))!;
}

export function header(message: KafkaMessage, name: string): string | undefined {
  const value = message.headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.toString();
}

/** Polls `probe` every 50 ms until `accept` takes its value; fails with the last value after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T> | T, accept: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await sleep(50);
  }
}
