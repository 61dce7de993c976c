import test from 'ava';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { readWithConfluentPython } from '../helpers/confluent-python.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

const expectedTypes = {
  'order.events': ['OrderCreated', 'OrderCompleted', 'OrderCancelled'],
  'product.events': ['StockReserved', 'StockReservationFailed', 'StockReleased'],
  'user.events': ['PointsDeducted', 'PointsDeductionFailed'],
};

test("every event on the three topics decodes with Confluent's Avro deserializer given only the registry URL", async (t) => {
  // Make sure every event type has happened at least once.
  const userId = await createUser(10);
  const productId = await createProduct(6, 1);
  await placeOrder(userId, [{ productId, quantity: 1 }]); // completes
  await placeOrder(userId, [{ productId, quantity: 1 }]); // out of stock
  const other = await createProduct(100, 1);
  await placeOrder(userId, [{ productId: other, quantity: 1 }]); // insufficient points: reserve, fail, release

  const kafka = new Kafka({ clientId: 'decode-check', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, Map<number, bigint>>();
  const highs = new Map<string, Map<number, number>>();
  for (const topic of Object.keys(expectedTypes)) {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends.set(topic, new Map(offsets.map((o) => [o.partition, BigInt(o.high)])));
    highs.set(topic, new Map(offsets.map((o) => [o.partition, Number(o.high)])));
  }
  await admin.disconnect();

  // Three independent readers: Confluent's own deserializer (its Python client, below), the registry client
  // every kafkajs team uses, and plain avsc with the schema fetched by id from GET /schemas/ids/{id}.
  const registry = new SchemaRegistry({ host: registryUrl });
  const schemas = new Map<number, avro.Type>();
  const seenTypes = new Map<string, Set<string>>();
  const byKafkajs = new Map<string, unknown>();
  let decoded = 0;
  const consumer = kafka.consumer({ groupId: `decode-check-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: Object.keys(expectedTypes), fromBeginning: true });
  const remaining = () => [...ends].some(([, partitions]) => [...partitions.values()].some((high) => high > 0n));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not all events read after 120 s (${decoded} decoded)`)), 120_000);
    void consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const end = ends.get(topic)!;
        if (BigInt(message.offset) < (end.get(partition) ?? 0n)) {
          const value = message.value!;
          const id = value.readInt32BE(1);
          if (!schemas.has(id)) {
            const response = await fetch(`${registryUrl}/schemas/ids/${id}`);
            schemas.set(id, avro.Type.forSchema(JSON.parse(((await response.json()) as { schema: string }).schema)));
          }
          const viaRegistry = await registry.decode(value);
          const viaAvsc = schemas.get(id)!.fromBuffer(value.subarray(5));
          t.deepEqual({ ...viaAvsc }, { ...viaRegistry });
          // As plain JSON: avsc hands back nested records as instances of generated classes.
          byKafkajs.set(`${topic}/${partition}/${message.offset}`, JSON.parse(JSON.stringify(viaRegistry)));
          const type = message.headers?.eventType?.toString() ?? '';
          t.is((schemas.get(id) as avro.types.RecordType).name?.split('.').pop(), type);
          seenTypes.set(topic, (seenTypes.get(topic) ?? new Set()).add(type));
          decoded++;
          if (BigInt(message.offset) + 1n >= end.get(partition)!) end.set(partition, 0n);
        }
        if (!remaining()) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
    if (!remaining()) {
      clearTimeout(timer);
      resolve();
    }
  });
  await consumer.disconnect();
  t.true(decoded > 0);

  const confluentEnds = Object.fromEntries([...ends.keys()].map((topic) => [topic, Object.fromEntries(highs.get(topic)!)]));
  const byConfluent = await readWithConfluentPython(brokers.join(','), registryUrl, confluentEnds);
  t.is(byConfluent.length, decoded, "Confluent's deserializer read as many events as kafkajs");
  for (const record of byConfluent) {
    const where = `${record.topic}/${record.partition}/${record.offset}`;
    t.is(record.schema.split('.').pop(), record.eventType ?? undefined, where);
    t.deepEqual(record.value, byKafkajs.get(where), where);
  }
  for (const [topic, types] of Object.entries(expectedTypes)) {
    t.deepEqual([...(seenTypes.get(topic) ?? [])].sort(), [...types].sort(), topic);
  }
});
