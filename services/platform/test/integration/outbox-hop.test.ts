import test from 'ava';
import avro from 'avsc';
import { randomUUID } from 'node:crypto';
import { connectFetch, connectorFiles } from '@cdc-outbox-saga/local-stack';
import { isTraceparent } from '../../src/index.js';
import { collect, collectFirst, header, kafkaClient, probeWriter, serviceDatabase, stack, uniqueName } from '../helpers/stack.js';

// Each file owns an aggregate type, so its topic `<aggregateType>.events` holds only its own events.
const aggregateType = uniqueName('probe-hop');
const topic = `${aggregateType}.events`;
const kafka = kafkaClient(aggregateType);

const setup = async () => {
  const db = await serviceDatabase('order');
  const { writer, codec } = await probeWriter(aggregateType);
  return { db, writer, codec };
};
const ready = setup();
test.after.always(async () => (await ready).db.destroy());

test('a committed outbox row arrives on <aggregatetype>.events with its key, headers and unchanged Avro value', async (t) => {
  const { db, writer, codec } = await ready;
  const key = randomUUID();
  const payload = { probeId: key, sequence: 1, note: 'committed' };
  const incoming = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
  const eventId = await db.transaction((trx) =>
    writer.write(trx, { type: 'ProbeRecorded', aggregateId: key, payload, traceparent: incoming }),
  );

  const { message } = await collectFirst(kafka, topic, (m) => m.key?.toString() === key);
  t.is(message.key?.toString(), key);
  t.is(header(message, 'eventId'), eventId);
  t.is(header(message, 'eventType'), 'ProbeRecorded');
  const traceparent = header(message, 'traceparent');
  t.true(isTraceparent(traceparent), `traceparent header: ${traceparent}`);
  t.is(traceparent!.split('-')[1], 'a'.repeat(32), 'the trace id of the incoming context is kept');

  // Connect passes the bytes through: they are exactly what the writer encoded (Avro is deterministic).
  t.deepEqual(message.value, await codec.encode('ProbeRecorded', payload));

  // A consumer in another team has only the registry: it reads the schema by the id in the wire format.
  const value = message.value!;
  t.is(value.readUInt8(0), 0, 'magic byte');
  const schemaId = value.readInt32BE(1);
  const response = await fetch(`${stack.registryUrl}/schemas/ids/${schemaId}`);
  t.is(response.status, 200);
  const { schema } = (await response.json()) as { schema: string };
  const decoded = avro.Type.forSchema(JSON.parse(schema)).fromBuffer(value.subarray(5));
  t.deepEqual({ ...decoded }, payload);
});

test('a rolled-back transaction puts nothing on Kafka', async (t) => {
  const { db, writer } = await ready;
  const rolledBack = randomUUID();
  const marker = randomUUID();
  await t.throwsAsync(
    db.transaction(async (trx) => {
      await writer.write(trx, {
        type: 'ProbeRecorded',
        aggregateId: rolledBack,
        payload: { probeId: rolledBack, sequence: 1, note: 'rolled back' },
      });
      throw new Error('business rule failed');
    }),
    { message: 'business rule failed' },
  );
  // Committed after the rollback: once it has arrived, the rolled-back event would have arrived too.
  await db.transaction((trx) =>
    writer.write(trx, { type: 'ProbeRecorded', aggregateId: marker, payload: { probeId: marker, sequence: 1, note: '' } }),
  );
  const all = await collect(kafka, topic, (got) => got.some((m) => m.message.key?.toString() === marker));
  t.false(all.some((m) => m.message.key?.toString() === rolledBack));
});

test("an event over Kafka's record limit is refused in its transaction, which commits nothing, and CDC goes on", async (t) => {
  const { db, writer } = await ready;
  const tooLarge = randomUUID();
  const marker = randomUUID();
  // 1.1 MB: Kafka (message.max.bytes) and Connect's producer (max.request.size) refuse anything over 1 MiB,
  // which would fail the connector's task and stop CDC for the whole database.
  const error = await t.throwsAsync(
    db.transaction((trx) =>
      writer.write(trx, {
        type: 'ProbeRecorded',
        aggregateId: tooLarge,
        payload: { probeId: tooLarge, sequence: 1, note: 'x'.repeat(1_100_000) },
      }),
    ),
  );
  t.is((error as Error & { code?: string }).code, 'EVENT_TOO_LARGE');
  t.regex(error!.message, /over the \d+-byte limit/);
  await db.transaction((trx) =>
    writer.write(trx, { type: 'ProbeRecorded', aggregateId: marker, payload: { probeId: marker, sequence: 1, note: 'after' } }),
  );
  const all = await collect(kafka, topic, (got) => got.some((m) => m.message.key?.toString() === marker));
  t.false(all.some((m) => m.message.key?.toString() === tooLarge));
  const status = (await (await connectFetch(stack.connect, `/connectors/${connectorFiles()[0]!.name}/status`)).json()) as {
    connector: { state: string };
    tasks: Array<{ state: string }>;
  };
  t.is(status.connector.state, 'RUNNING');
  t.true(status.tasks.every((task) => task.state === 'RUNNING'));
});

test('1,000 events from concurrent transactions all arrive, in commit order for each key', async (t) => {
  const { db, writer } = await ready;
  const keys: string[] = Array.from({ length: 20 }, () => randomUUID());
  const perKey = 50;
  // Transactions of different keys run concurrently; those of one key commit one after the other, so
  // their commit order is the sequence number.
  await Promise.all(
    keys.map(async (key) => {
      for (let sequence = 0; sequence < perKey; sequence++) {
        await db.transaction((trx) =>
          writer.write(trx, { type: 'ProbeRecorded', aggregateId: key, payload: { probeId: key, sequence, note: '' } }),
        );
      }
    }),
  );

  const wanted = new Set<string>(keys);
  const { codec } = await probeWriter(aggregateType);
  const all = await collect(
    kafka,
    topic,
    (got) => got.filter((m) => wanted.has(m.message.key?.toString() ?? '')).length >= keys.length * perKey,
    120_000,
  );
  const sequences = new Map<string, number[]>(keys.map((key) => [key, []]));
  for (const { message } of all) {
    const key = message.key?.toString() ?? '';
    if (!wanted.has(key)) continue;
    const { payload } = await codec.decode(message.value);
    sequences.get(key)!.push((payload as { sequence: number }).sequence);
  }
  const expected = Array.from({ length: perKey }, (_, i) => i);
  for (const [key, got] of sequences) t.deepEqual(got, expected, `key ${key}`);
});
