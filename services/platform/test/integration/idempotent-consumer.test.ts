import test from 'ava';
import { randomUUID } from 'node:crypto';
import { AppError, IdempotentConsumer, type EventOutcome } from '../../src/index.js';
import {
  collectFirst,
  ensureTopic,
  eventually,
  header,
  kafkaClient,
  logger,
  migrationDatabase,
  probeWriter,
  serviceDatabase,
  uniqueName,
} from '../helpers/stack.js';

interface Probe {
  probeId: string;
  sequence: number;
  note: string;
}

const aggregateType = uniqueName('probe-consumer');
const topic = `${aggregateType}.events`;
const groupId = uniqueName('probe-consumer-group');
const table = uniqueName('probe_counts').replace(/-/g, '_');
const kafka = kafkaClient(aggregateType);

/** Test knobs the handler reads: per-key gates that fail transiently while closed. */
const closedGates = new Set<string>();
/** Per key, how many attempts fail with MariaDB's read-only error (1290), as during a failover. */
const readOnlyFailures = new Map<string, number>();
const attempts = new Map<string, number>();
const outcomes = new Map<string, EventOutcome[]>();
/** When this member joined the group: a join after the first means it was evicted or rebalanced. */
const joins: number[] = [];

const setup = async () => {
  const consumerDb = await serviceDatabase('product');
  // The test's own table is DDL: made (and dropped) as the migration account; the consumer writes its rows.
  const ddl = migrationDatabase('product');
  await ddl.schema.createTable(table, (t) => {
    t.string('probe_id', 36).primary();
    t.integer('applied').notNullable();
  });
  const publisherDb = await serviceDatabase('order');
  const { writer, codec } = await probeWriter(aggregateType);
  await ensureTopic(kafka, topic);
  const consumer = new IdempotentConsumer({
    kafka,
    db: consumerDb,
    codec,
    logger,
    groupId,
    topics: [topic],
    retry: { minMs: 50, maxMs: 500 },
    // Short, so the test below outlasts it: a member that stopped heartbeating would be evicted.
    sessionTimeoutMs: 8000,
    handlers: {
      ProbeRecorded: async (event, trx) => {
        const probe = event.payload as Probe;
        attempts.set(probe.probeId, (attempts.get(probe.probeId) ?? 0) + 1);
        // The effect is written before the failure, so a retry proves the rollback too.
        await trx.raw(`INSERT INTO ${table} (probe_id, applied) VALUES (?, 1) ON DUPLICATE KEY UPDATE applied = applied + 1`, [
          probe.probeId,
        ]);
        if (closedGates.has(probe.probeId)) throw new AppError('PROBE_GATE_CLOSED', 'try later', { retriable: true });
        const readOnly = readOnlyFailures.get(probe.probeId) ?? 0;
        if (readOnly > 0) {
          readOnlyFailures.set(probe.probeId, readOnly - 1);
          throw Object.assign(new Error('The MariaDB server is running with the --read-only option'), {
            errno: 1290,
            code: 'ER_OPTION_PREVENTS_STATEMENT',
          });
        }
        if (probe.note === 'poison') throw new AppError('PROBE_REJECTED', 'this probe can never be applied');
      },
    },
    onEvent: (event, outcome) => {
      if (!event) return;
      outcomes.set(event.eventId, [...(outcomes.get(event.eventId) ?? []), outcome]);
    },
  });
  consumer.kafkaConsumer.on(consumer.kafkaConsumer.events.GROUP_JOIN, () => joins.push(Date.now()));
  await consumer.start();
  return { consumerDb, publisherDb, writer, consumer, ddl };
};
const ready = setup();

test.after.always(async () => {
  const { consumer, consumerDb, publisherDb, ddl } = await ready;
  await consumer.stop();
  await ddl.schema.dropTableIfExists(table);
  await ddl.destroy();
  await consumerDb.destroy();
  await publisherDb.destroy();
});

async function publish(probeId: string, note = ''): Promise<string> {
  const { publisherDb, writer } = await ready;
  return publisherDb.transaction((trx) =>
    writer.write(trx, { type: 'ProbeRecorded', aggregateId: probeId, payload: { probeId, sequence: 1, note } }),
  );
}

async function applied(probeId: string): Promise<number> {
  const { consumerDb } = await ready;
  const row = await consumerDb(table).where({ probe_id: probeId }).first();
  return row ? Number(row.applied) : 0;
}

const collectEvent = (from: string, eventId: string) => collectFirst(kafka, from, (m) => header(m, 'eventId') === eventId);

test('a redelivered event (same event id) changes the consumer database once only', async (t) => {
  const probeId = randomUUID();
  const eventId = await publish(probeId);
  await eventually(
    () => applied(probeId),
    (n) => n === 1,
  );

  // Redeliver: the very same record (key, value, eventId header) once more on the topic.
  const original = await collectEvent(topic, eventId);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    messages: [{ key: original.message.key, value: original.message.value, headers: original.message.headers }],
  });
  await producer.disconnect();

  t.deepEqual(
    await eventually(
      () => outcomes.get(eventId) ?? [],
      (o) => o.length === 2,
    ),
    ['applied', 'duplicate'],
  );
  t.is(await applied(probeId), 1);
});

test('an undecodable message lands on the DLQ and the consumer goes on with the next one', async (t) => {
  const probeId = randomUUID();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    messages: [{ key: probeId, value: Buffer.from('not avro at all'), headers: { eventId: randomUUID(), eventType: 'ProbeRecorded' } }],
  });
  await producer.disconnect();
  // Same key, so same partition, behind the bad message.
  await publish(probeId);

  await eventually(
    () => applied(probeId),
    (n) => n === 1,
  );
  const { message } = await collectFirst(kafka, `${topic}.dlq`, (m) => m.key?.toString() === probeId);
  t.is(message.value?.toString(), 'not avro at all', 'the original bytes are kept');
  t.is(header(message, 'dlq.error.code'), 'NOT_CONFLUENT_AVRO');
  t.is(header(message, 'dlq.original.topic'), topic);
  t.is(header(message, 'dlq.consumer.group'), groupId);
  t.truthy(header(message, 'dlq.original.offset'));
});

test('a transient failure is retried on the same message without committing its offset, then applied once', async (t) => {
  const probeId = randomUUID();
  closedGates.add(probeId);
  const eventId = await publish(probeId);
  await eventually(
    () => attempts.get(probeId) ?? 0,
    (n) => n >= 3,
  );

  // While it keeps failing, the group's committed offset stays at or before the message.
  const record = await collectEvent(topic, eventId);
  const admin = kafka.admin();
  await admin.connect();
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  await admin.disconnect();
  const committed = offsets!.partitions.find((p) => p.partition === record.partition)!;
  t.true(BigInt(committed.offset) <= BigInt(record.message.offset), `committed ${committed.offset}, message at ${record.message.offset}`);
  t.is(await applied(probeId), 0, 'every failed attempt was rolled back');

  closedGates.delete(probeId);
  await eventually(
    () => applied(probeId),
    (n) => n === 1,
  );
  // The row is visible to this connection as soon as the server commits, a moment before the consumer's
  // COMMIT returns and it reports the outcome: wait for the report, then look at all of them.
  const seen = await eventually(
    () => outcomes.get(eventId) ?? [],
    (o) => o.includes('applied'),
    10_000,
  );
  t.deepEqual(
    seen.filter((o) => o !== 'retried'),
    ['applied'],
  );
  t.true(seen.filter((o) => o === 'retried').length >= 3, 'each failed attempt is counted as retried');
});

test.serial(
  'a partition in retry for longer than the session timeout holds up neither the other partitions nor the membership',
  async (t) => {
    await eventually(
      () => joins.length,
      (n) => n >= 1,
    );
    const joined = joins.length;
    const stuck = randomUUID();
    closedGates.add(stuck);
    const stuckRecord = await collectEvent(topic, await publish(stuck));
    const gateClosedAt = Date.now();

    // Others, until some land on each of the other partitions (Connect partitions by the key's murmur2).
    const others: { probeId: string; partition: number }[] = [];
    while (new Set(others.filter((o) => o.partition !== stuckRecord.partition).map((o) => o.partition)).size < 2) {
      const probeId = randomUUID();
      others.push({ probeId, partition: (await collectEvent(topic, await publish(probeId))).partition });
    }
    const elsewhere = others.filter((o) => o.partition !== stuckRecord.partition);
    for (const { probeId } of elsewhere)
      await eventually(
        () => applied(probeId),
        (n) => n === 1,
        20_000,
      );
    t.is(await applied(stuck), 0, 'the stuck one is still failing');

    // Keep it failing past the 8 s session timeout, then let it through.
    await eventually(
      () => Date.now() - gateClosedAt,
      (ms) => ms > 12_000,
      20_000,
    );
    t.is(await applied(stuck), 0);
    closedGates.delete(stuck);
    await eventually(
      () => applied(stuck),
      (n) => n === 1,
    );
    for (const { probeId } of others)
      await eventually(
        () => applied(probeId),
        (n) => n === 1,
      );
    t.is(joins.length, joined, 'the member was never evicted, so it never joined again');
  },
);

test('an error not known to be permanent (a read-only server during a failover) is retried, never dead-lettered', async (t) => {
  const probeId = randomUUID();
  readOnlyFailures.set(probeId, 2);
  const eventId = await publish(probeId);
  await eventually(
    () => applied(probeId),
    (n) => n === 1,
  );
  await eventually(
    () => outcomes.get(eventId) ?? [],
    (o) => o.includes('applied'),
    10_000,
  );
  t.deepEqual(outcomes.get(eventId), ['retried', 'retried', 'applied']);
  t.is(attempts.get(probeId), 3, 'two read-only failures, then applied');
});

test('an event whose handler fails permanently goes to the DLQ and leaves no trace in the database', async (t) => {
  const probeId = randomUUID();
  const eventId = await publish(probeId, 'poison');
  t.deepEqual(
    await eventually(
      () => outcomes.get(eventId) ?? [],
      (o) => o.length > 0,
    ),
    ['dead-lettered'],
  );
  t.is(await applied(probeId), 0);
  const { consumerDb } = await ready;
  t.is((await consumerDb('processed_events').where({ consumer_group: groupId, event_id: eventId })).length, 0);

  const { message } = await collectEvent(`${topic}.dlq`, eventId);
  t.is(header(message, 'dlq.error.code'), 'PROBE_REJECTED');
  t.is(header(message, 'dlq.error.class'), 'permanent');
  t.is(header(message, 'eventType'), 'ProbeRecorded', 'the original headers are kept');
});

test('a topic whose records can outlive the dedupe window (weekly segments) is refused at start, naming it', async (t) => {
  const { consumerDb } = await ready;
  const weekly = `${uniqueName('probe-weekly')}.events`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic: weekly, numPartitions: 1, configEntries: [{ name: 'segment.ms', value: String(7 * 24 * 3_600_000) }] }],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const { codec } = await probeWriter(aggregateType);
  const consumer = new IdempotentConsumer({
    kafka,
    db: consumerDb,
    codec,
    logger,
    groupId: uniqueName('probe-weekly-group'),
    topics: [weekly],
    handlers: {},
    dedupeWindowHours: 192,
  });
  const error = await t.throwsAsync(consumer.start());
  t.is((error as AppError).code, 'DEDUPE_WINDOW_TOO_SHORT');
  t.regex(error!.message, new RegExp(`${weekly.replace(/\./g, '\\.')} keeps a record up to 33\\d\\.\\d h`));
  await consumer.stop();
});
