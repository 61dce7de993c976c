import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners } from 'kafkajs';
import { createProduct, createUser, type Items } from '../helpers/api.js';
import { burst, dlqDepth, waitUntilFinished } from '../helpers/burst.js';
import { databases } from '../helpers/databases.js';

const { dbs, audit } = databases();

/** The partition Connect gives an order's events: murmur2 of the key, as Java's default partitioner. */
const partitionOf = (() => {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
    offlineReplicas: [],
  }));
  return (orderId: string) => partitioner({ topic: 'order.events', partitionMetadata, message: { key: orderId, value: null } });
})();

// Kafka's consumer session timeout is 30 s: a consumer that waited on the lock inside its handler for
// that long would stop heartbeating and be evicted, and while it waits nothing else of the instance moves.
const LOCK_HELD_MS = 40_000;

test.serial('a row lock held on one product past the session timeout: orders for other products keep completing', async (t) => {
  const userId = await createUser(1_000_000);
  const locked = await createProduct(2, 1000);
  const others = await Promise.all(Array.from({ length: 4 }, () => createProduct(2, 1000)));
  const dlqBefore = await dlqDepth();

  // Another client holds the product's row lock, as a long report or a stuck admin session would.
  const holder = await dbs.product.transaction();
  await holder('products').where({ id: locked }).forUpdate().first();
  const lockedAt = Date.now();
  try {
    const [stuck] = (await burst([{ userId, items: [{ productId: locked, quantity: 1 }] }], 1)).accepted;
    const stuckPartition = partitionOf(stuck!);

    const order = (i: number): { userId: string; items: Items } => ({
      userId,
      items: [{ productId: others[i % others.length]!, quantity: 1 }],
    });
    const waves: string[][] = [];
    // One wave at once, one after the session timeout has passed with the lock still held.
    waves.push(
      (
        await burst(
          Array.from({ length: 24 }, (_, i) => order(i)),
          8,
        )
      ).accepted,
    );
    await sleep(Math.max(0, 32_000 - (Date.now() - lockedAt))); // the fault's duration, not a wait for a result
    waves.push(
      (
        await burst(
          Array.from({ length: 24 }, (_, i) => order(i)),
          8,
        )
      ).accepted,
    );

    for (const wave of waves) {
      // Per-order ordering is per partition: orders behind the stuck one on its partition wait for it.
      const free = wave.filter((id) => partitionOf(id) !== stuckPartition);
      t.true(free.length > 0, 'some orders landed on the other partitions');
      const statuses = await waitUntilFinished(dbs.order, free, LOCK_HELD_MS - (Date.now() - lockedAt));
      t.deepEqual(
        [...statuses.values()].filter((s) => s !== 'COMPLETED'),
        [],
      );
    }
    t.true(Date.now() - lockedAt < LOCK_HELD_MS, 'all of it while the lock was held');
    const stuckStatus = await dbs.order('sagas').where({ order_id: stuck }).first();
    t.is(stuckStatus.status, 'PENDING', 'the order for the locked product waits for its lock');
    await sleep(Math.max(0, LOCK_HELD_MS - (Date.now() - lockedAt)));

    await holder.commit();
    const all = [stuck!, ...waves.flat()];
    const statuses = await waitUntilFinished(dbs.order, all, 60_000);
    t.deepEqual(
      [...statuses.values()].filter((s) => s !== 'COMPLETED'),
      [],
      'once the lock is gone, every order completes',
    );
    t.deepEqual(await audit({ orderIds: all, productIds: [locked, ...others], userIds: [userId] }), []);
    t.is(await dlqDepth(), dlqBefore, 'nothing went to a DLQ');
  } finally {
    if (!holder.isCompleted()) await holder.rollback();
  }
});
