import test from 'ava';
import { serviceInstanceNames, startComponents, stopComponents } from '@cdc-outbox-saga/local-stack';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';
import { waitFor } from '../helpers/discovery.js';
import { consumerLag, readBetween, rewindGroups, topicEnds, type Offsets, type TopicEvent } from '../helpers/topics.js';

// Runs alone, after the e2e files: it stops every service instance and rewinds their consumer groups.
const { dbs, audit } = databases();

async function snapshot() {
  const [sagas, products, users, reservations, deductions] = await Promise.all([
    dbs.order('sagas').orderBy('order_id').select('order_id', 'status', 'reason', 'amount', 'updated_at'),
    dbs.product('products').orderBy('id').select('id', 'stock'),
    dbs.user('users').orderBy('id').select('id', 'points'),
    dbs.product('reservations').orderBy('order_id').select('order_id', 'status', 'updated_at'),
    dbs.user('point_deductions').orderBy('order_id').select('order_id', 'status', 'amount', 'updated_at'),
  ]);
  return { sagas, products, users, reservations, deductions };
}

/** Everything the three databases hold about these orders, their product and their buyer. */
async function sagaState(orderIds: string[], productId: string, userId: string) {
  const [sagas, orders, payments, products, reservations, reservationLines, users, deductions] = await Promise.all([
    dbs
      .order('sagas')
      .whereIn('order_id', orderIds)
      .orderBy('order_id')
      .select('order_id', 'status', 'reason', 'amount', 'updated_at', 'finished_at'),
    dbs.order('orders').whereIn('id', orderIds).orderBy('id'),
    dbs.order('payments').whereIn('order_id', orderIds).orderBy('order_id'),
    dbs.product('products').where({ id: productId }).select('stock', 'stock_received', 'updated_at'),
    dbs.product('reservations').whereIn('order_id', orderIds).orderBy('order_id'),
    dbs.product('reservation_lines').whereIn('order_id', orderIds).orderBy(['order_id', 'product_id']),
    dbs.user('users').where({ id: userId }).select('points', 'points_granted', 'updated_at'),
    dbs.user('point_deductions').whereIn('order_id', orderIds).orderBy('order_id'),
  ]);
  return { sagas, orders, payments, products, reservations, reservationLines, users, deductions };
}

/** Stops every service instance, moves their consumer groups back, starts them and waits until they caught up. */
async function replayFrom(to: 'earliest' | Offsets): Promise<void> {
  const instances = serviceInstanceNames();
  const owners = await stopComponents(instances);
  try {
    await rewindGroups(to);
  } finally {
    await startComponents(instances, owners);
  }
  await waitFor('every event consumed again', consumerLag, (lag) => lag === 0, 120_000);
}

/** The event types of each order, in topic order per topic. */
function typesByOrder(events: TopicEvent[], orderIds: string[]): Record<string, string[]> {
  return Object.fromEntries(
    orderIds.map((id) => [
      id,
      events
        .filter((e) => e.key === id)
        .sort((a, b) => a.topic.localeCompare(b.topic) || Number(a.offset - b.offset))
        .map((e) => `${e.topic} ${e.eventType}`),
    ]),
  );
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
  await waitFor('every event consumed', consumerLag, (lag) => lag === 0, 30_000);
  const before = await snapshot();

  const instances = serviceInstanceNames();
  const owners = await stopComponents(instances);
  await rewindGroups('earliest');
  t.true((await consumerLag()) > 0, 'the groups are rewound');
  await startComponents(instances, owners);

  await waitFor('every event consumed again', consumerLag, (lag) => lag === 0, 120_000);
  t.deepEqual(await snapshot(), before);
});

test.serial(
  'replayed after their processed-events records are gone, the events of finished sagas change nothing and publish nothing',
  async (t) => {
    // Past the dedupe window, only each step's own record of its decision stands between a replay and a
    // second effect: a refused reservation or deduction must be remembered as firmly as a granted one.
    const start = await topicEnds();
    const userId = await createUser(40);
    const productId = await createProduct(10, 5);
    const placed = [
      await placeOrder(userId, [{ productId, quantity: 2 }]), // completes: 20 points, 3 left in stock
      await placeOrder(userId, [{ productId, quantity: 9 }]), // C1: out of stock
      await placeOrder(userId, [{ productId, quantity: 3 }]), // C3: 30 points asked, 20 left; stock put back
    ];
    t.deepEqual(
      placed.map((a) => `${a.body.status} ${a.body.reason ?? ''}`.trim()),
      ['COMPLETED', 'CANCELLED OUT_OF_STOCK', 'CANCELLED INSUFFICIENT_POINTS'],
    );
    const [completed, outOfStock, noPoints] = placed.map((a) => a.body.id as string) as [string, string, string];
    const orderIds = [completed, outOfStock, noPoints];
    await waitFor('every event consumed', consumerLag, (lag) => lag === 0, 30_000);
    // The last events (OrderCompleted, OrderCancelled) are consumed by nobody waiting on them: read until they are there.
    let events: TopicEvent[] = [];
    await waitFor(
      'every event of the three sagas on the topics',
      async () => (events = await readBetween(start, await topicEnds())).filter((e) => e.key && orderIds.includes(e.key)).length,
      (count) => count === 12,
      30_000,
    );
    t.deepEqual(typesByOrder(events, orderIds), {
      [completed]: [
        'order.events OrderCreated',
        'order.events OrderCompleted',
        'product.events StockReserved',
        'user.events PointsDeducted',
      ],
      [outOfStock]: ['order.events OrderCreated', 'order.events OrderCancelled', 'product.events StockReservationFailed'],
      [noPoints]: [
        'order.events OrderCreated',
        'order.events OrderCancelled',
        'product.events StockReserved',
        'product.events StockReleased',
        'user.events PointsDeductionFailed',
      ],
    });

    // What would tempt a forgetful step: the stock of the C1 order is there now (a delivery, booked as received
    // and on hand; the service has no restock endpoint), and the buyer now has the points the C3 order lacked.
    await dbs.product('products').where({ id: productId }).increment({ stock: 20, stock_received: 20 });
    await dbs.user('users').where({ id: userId }).increment({ points: 100, points_granted: 100 });
    const before = await sagaState(orderIds, productId, userId);

    // Each service forgets it handled them, as it would once the records aged out of the dedupe window.
    const eventIds = events.filter((e) => e.key && orderIds.includes(e.key)).map((e) => e.eventId!);
    const forgotten = {
      order: await dbs.order('processed_events').whereIn('event_id', eventIds).delete(),
      product: await dbs.product('processed_events').whereIn('event_id', eventIds).delete(),
      user: await dbs.user('processed_events').whereIn('event_id', eventIds).delete(),
    };
    // order: PointsDeducted, StockReservationFailed, StockReleased; product: 3 OrderCreated, 2 OrderCancelled,
    // PointsDeductionFailed; user: 2 StockReserved, 2 OrderCancelled (C1 and C3).
    t.deepEqual(forgotten, { order: 3, product: 6, user: 4 });

    const replayStart = await topicEnds();
    await replayFrom(start);
    const handledAgain = {
      order: Number((await dbs.order('processed_events').whereIn('event_id', eventIds).count({ n: '*' }))[0]!.n),
      product: Number((await dbs.product('processed_events').whereIn('event_id', eventIds).count({ n: '*' }))[0]!.n),
      user: Number((await dbs.user('processed_events').whereIn('event_id', eventIds).count({ n: '*' }))[0]!.n),
    };
    t.deepEqual(handledAgain, forgotten, 'every forgotten event was handled again');
    t.deepEqual(await sagaState(orderIds, productId, userId), before, 'no row of the three databases changed');

    // Nothing published either. A saga placed now writes to all three outboxes after whatever the replay wrote,
    // and each connector publishes its binlog in order: once its last event is on the topics, so is anything
    // the replay published.
    const markerUser = await createUser(10);
    const markerProduct = await createProduct(1, 1);
    const marker = await placeOrder(markerUser, [{ productId: markerProduct, quantity: 1 }]);
    t.is(marker.body.status, 'COMPLETED');
    let since: TopicEvent[] = [];
    await waitFor(
      'the marker saga on every topic',
      async () =>
        (since = await readBetween(replayStart, await topicEnds()))
          .filter((e) => e.key === marker.body.id)
          .map((e) => e.eventType)
          .sort(),
      (types) => types.join() === 'OrderCompleted,OrderCreated,PointsDeducted,StockReserved',
      30_000,
    );
    t.deepEqual(
      since.filter((e) => e.key && orderIds.includes(e.key)),
      [],
      'no event of the replayed sagas was published again',
    );
    t.deepEqual(await audit({ orderIds, productIds: [productId], userIds: [userId] }), []);
  },
);

test.serial('on the quiet system, the audit finds every database consistent', async (t) => {
  t.deepEqual(await audit({ pendingGraceSeconds: 10 }), []);
});
