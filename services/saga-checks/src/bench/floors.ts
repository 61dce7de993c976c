// The floors below the saga, measured in the same run as the phases (before them, with no load running):
// what one step of the saga cannot beat on this machine.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { closeDatabases, openDatabases } from '../databases.js';
import { percentiles, type Floors, type Percentiles } from './report.js';

/** Floor 1: a transaction inserting one row, committed durably (sync_binlog=1, flush at commit). */
export async function databaseFloor(samples = 300): Promise<Percentiles> {
  // The migration account: the floor's table is made and dropped here.
  const dbs = openDatabases('migration');
  const table = `bench_floor_${randomUUID().slice(0, 8)}`;
  try {
    await dbs.order.schema.createTable(table, (t) => {
      t.string('id', 36).primary();
      t.binary('payload', 200);
    });
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const start = performance.now();
      await dbs.order.transaction((trx) => trx(table).insert({ id: randomUUID(), payload: Buffer.alloc(100) }));
      times.push(performance.now() - start);
    }
    return percentiles(times);
  } finally {
    await dbs.order.schema.dropTableIfExists(table);
    await closeDatabases(dbs);
  }
}

/** Floor 2: kafkajs produce (acks=all) -> consume on the same broker, one message at a time. */
export async function kafkaFloor(kafka: Kafka, samples = 300): Promise<Percentiles> {
  const topic = `bench-rtt-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `bench-rtt-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const arrivals = new Map<string, () => void>();
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  // No offset commits, as the services' consumers (they commit once a second): kafkajs' default commits
  // after every batch and fetches again only after the commit, which put 7 ms of OffsetCommit round trip
  // into every sample (p50 9.7 ms against 2.0 ms without).
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => arrivals.get(message.key!.toString())?.() });
  while (!joined) await sleep(50);
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const key = String(i);
      const arrived = new Promise<void>((resolveArrival) => arrivals.set(key, resolveArrival));
      const start = performance.now();
      await producer.send({ topic, acks: -1, messages: [{ key, value: 'x' }] });
      await arrived;
      times.push(performance.now() - start);
    }
  } finally {
    await producer.disconnect();
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  return percentiles(times.slice(10)); // the first few include connection set-up
}

/** Both floors, one after the other. */
export async function measureFloors(kafka: Kafka): Promise<Floors> {
  return { mysqlDurableTxMs: await databaseFloor(), kafkaRoundTripMs: await kafkaFloor(kafka) };
}
