import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';

const { dbs } = databases();

test('the same Idempotency-Key returns the same order and never creates a second one', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const key = randomUUID();
  const first = await placeOrder(userId, [{ productId, quantity: 1 }], { 'idempotency-key': key });
  const again = await placeOrder(userId, [{ productId, quantity: 1 }], { 'idempotency-key': key });
  t.is(first.status, 201);
  t.is(again.status, 201);
  t.is(again.body.id, first.body.id);
  t.is((await dbs.order('sagas').where({ user_id: userId })).length, 1);
});

test('ten concurrent requests with one Idempotency-Key make one order', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const key = randomUUID();
  const answers = await Promise.all(
    Array.from({ length: 10 }, () => placeOrder(userId, [{ productId, quantity: 1 }], { 'idempotency-key': key })),
  );
  t.is(new Set(answers.map((a) => a.body.id)).size, 1, JSON.stringify(answers.map((a) => a.body)));
  t.is((await dbs.order('sagas').where({ user_id: userId })).length, 1);
  t.is((await dbs.product('products').where({ id: productId }).first()).stock, 9);
});

test('reusing an Idempotency-Key for a different order is refused with 422 and writes nothing', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const key = randomUUID();
  await placeOrder(userId, [{ productId, quantity: 1 }], { 'idempotency-key': key });
  const other = await placeOrder(userId, [{ productId, quantity: 2 }], { 'idempotency-key': key });
  t.is(other.status, 422);
  t.is(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
  t.is((await dbs.order('sagas').where({ user_id: userId })).length, 1);
});
