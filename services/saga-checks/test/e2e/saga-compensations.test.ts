import test from 'ava';
import { randomUUID } from 'node:crypto';
import { api, createProduct, createUser, placeOrder, pointsOf, stockOf } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';

const { dbs, orderRows, audit } = databases();

async function expectNothingLeft(t: import('ava').ExecutionContext, orderId: string) {
  const rows = await orderRows(orderId);
  t.deepEqual(rows, { orders: [], lines: [], payments: [] }, 'no order, line or payment row is left');
  // The user service may hold a REFUSED or CANCELLED row for it (its decision, kept against replays), never a deduction.
  t.is((await dbs.user('point_deductions').where({ order_id: orderId, status: 'DEDUCTED' })).length, 0, 'no points deducted');
}

test('an order for more than the stock is cancelled with OUT_OF_STOCK (C1), stock and points untouched', async (t) => {
  const userId = await createUser(1000);
  const productId = await createProduct(5, 2);
  const answer = await placeOrder(userId, [{ productId, quantity: 3 }]);
  t.is(answer.status, 409, JSON.stringify(answer.body));
  t.like(answer.body, { status: 'CANCELLED', reason: 'OUT_OF_STOCK', amount: null });
  t.is(await stockOf(productId), 2);
  t.is(await pointsOf(userId), 1000);
  await expectNothingLeft(t, answer.body.id);
  t.like(await dbs.product('reservations').where({ order_id: answer.body.id }).first(), {
    status: 'REFUSED',
    reason: 'OUT_OF_STOCK',
    product_id: productId,
  });
  t.is((await dbs.product('reservation_lines').where({ order_id: answer.body.id })).length, 0, 'nothing was reserved');
  t.like((await api('GET', `/orders/${answer.body.id}`)).body, { status: 'CANCELLED', reason: 'OUT_OF_STOCK' });
});

test('an order costing more than the points is cancelled with INSUFFICIENT_POINTS (C2 + C3), stock restored', async (t) => {
  const userId = await createUser(50);
  const productId = await createProduct(20, 10);
  const answer = await placeOrder(userId, [{ productId, quantity: 3 }]);
  t.is(answer.status, 409, JSON.stringify(answer.body));
  t.like(answer.body, { status: 'CANCELLED', reason: 'INSUFFICIENT_POINTS', amount: 60 });
  t.is(await stockOf(productId), 10, 'the reserved stock was put back');
  t.is(await pointsOf(userId), 50);
  await expectNothingLeft(t, answer.body.id);
  t.like(await dbs.product('reservations').where({ order_id: answer.body.id }).first(), { status: 'RELEASED' });
  t.like(await dbs.user('point_deductions').where({ order_id: answer.body.id }).first(), {
    status: 'REFUSED',
    reason: 'INSUFFICIENT_POINTS',
  });
  t.deepEqual(await audit({ orderIds: [answer.body.id], productIds: [productId], userIds: [userId] }), []);
});

test('an order by an unknown user is cancelled with UNKNOWN_USER, its stock restored', async (t) => {
  const productId = await createProduct(1, 4);
  const answer = await placeOrder(randomUUID(), [{ productId, quantity: 2 }]);
  t.is(answer.status, 409, JSON.stringify(answer.body));
  t.like(answer.body, { status: 'CANCELLED', reason: 'UNKNOWN_USER' });
  t.is(await stockOf(productId), 4);
  await expectNothingLeft(t, answer.body.id);
});

test('an order for an unknown product is cancelled with UNKNOWN_PRODUCT', async (t) => {
  const userId = await createUser(100);
  const answer = await placeOrder(userId, [{ productId: randomUUID(), quantity: 1 }]);
  t.is(answer.status, 409, JSON.stringify(answer.body));
  t.like(answer.body, { status: 'CANCELLED', reason: 'UNKNOWN_PRODUCT' });
  t.is(await pointsOf(userId), 100);
  await expectNothingLeft(t, answer.body.id);
});

test('a two-line order whose second line lacks stock reserves nothing', async (t) => {
  const userId = await createUser(1000);
  const plenty = await createProduct(1, 10);
  const scarce = await createProduct(1, 1);
  const answer = await placeOrder(userId, [
    { productId: plenty, quantity: 5 },
    { productId: scarce, quantity: 2 },
  ]);
  t.like(answer.body, { status: 'CANCELLED', reason: 'OUT_OF_STOCK' });
  t.is(await stockOf(plenty), 10, 'the first line was not reserved either');
  t.is(await stockOf(scarce), 1);
  t.like(await dbs.product('reservations').where({ order_id: answer.body.id }).first(), { status: 'REFUSED', product_id: scarce });
  await expectNothingLeft(t, answer.body.id);
});
