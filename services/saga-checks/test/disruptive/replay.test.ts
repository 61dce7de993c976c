import test from 'ava';
import { serviceInstanceNames, startComponents, stopComponents } from '@cdc-outbox-saga/local-stack';
import { Kafka, logLevel } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';

// Runs alone, after the e2e files: it stops every service instance and rewinds their consumer groups.
const { dbs, audit } = databases();
const kafka = new Kafka({
  clientId: 'replay-test',
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  logLevel: logLevel.NOTHING,
});
const groups = {
  'order-service': ['product.events', 'user.events'],
  'product-service': ['order.events', 'user.events'],
  'user-service': ['product.events'],
};

async function snapshot() {
  const [sagas, products, users, reservations, deductions] = await Promise.all([
    dbs.order('sagas').orderBy('order_id').select('order_id', 'status', 'reason', 'amount', 'updated_at'),
    dbs.product('products').orderBy('id').select('id', 'stock'),
    dbs.user('users').orderBy('id').select('id', 'points'),
    dbs.product('reservations').orderBy('order_id').select('order_id', 'status', 'updated_at'),
    dbs.user('point_deductions').orderBy('order_id').select('order_id', 'amount'),
  ]);
  return { sagas, products, users, reservations, deductions };
}

async function lag(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let total = 0;
    for (const [groupId, topics] of Object.entries(groups)) {
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        for (const end of ends) {
          const at = committed!.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
          total += Number(end.high) - Math.max(Number(at), 0);
        }
      }
    }
    return total;
  } finally {
    await admin.disconnect();
  }
}

test.serial('replaying every processed event (consumer groups rewound to the beginning) changes nothing', async (t) => {
  const userId = await createUser(40);
  const productId = await createProduct(10, 5);
  const outcomes = [
    await placeOrder(userId, [{ productId, quantity: 2 }]), // completes
    await placeOrder(userId, [{ productId, quantity: 9 }]), // out of stock
    await placeOrder(userId, [{ productId, quantity: 3 }]), // insufficient points, restocked
  ].map((a) => `${a.body.status} ${a.body.reason ?? ''}`.trim());
  t.deepEqual(outcomes, ['COMPLETED', 'CANCELLED OUT_OF_STOCK', 'CANCELLED INSUFFICIENT_POINTS']);
  for (let i = 0; i < 100 && (await lag()) > 0; i++) await sleep(100);
  const before = await snapshot();

  const instances = serviceInstanceNames();
  const owners = await stopComponents(instances);
  const admin = kafka.admin();
  await admin.connect();
  for (const [groupId, topics] of Object.entries(groups)) {
    for (const topic of topics) await admin.resetOffsets({ groupId, topic, earliest: true });
  }
  await admin.disconnect();
  t.true((await lag()) > 0, 'the groups are rewound');
  await startComponents(instances, owners);

  const deadline = Date.now() + 120_000;
  while ((await lag()) > 0 && Date.now() < deadline) await sleep(200);
  t.is(await lag(), 0, 'every event was consumed again');
  t.deepEqual(await snapshot(), before);
});

test.serial('on the quiet system, the audit finds every database consistent', async (t) => {
  t.deepEqual(await audit({ pendingGraceSeconds: 10 }), []);
});
