import test from 'ava';
import { api, createProduct, createUser, placeOrder, pointsOf, stockOf } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';

const { orderRows, audit } = databases();

test('an order within stock and points completes, and stock and points drop by exactly the order', async (t) => {
  const userId = await createUser(1000);
  const pen = await createProduct(7, 10);
  const ink = await createProduct(30, 5);

  const answer = await placeOrder(userId, [
    { productId: pen, quantity: 3 },
    { productId: ink, quantity: 2 },
  ]);
  t.is(answer.status, 201, JSON.stringify(answer.body));
  t.is(answer.body.status, 'COMPLETED');
  t.is(answer.body.amount, 3 * 7 + 2 * 30);
  t.is(answer.headers.get('location'), `/api/orders/${answer.body.id}`);
  t.is(answer.headers.get('preference-applied'), 'wait=30');

  t.is(await stockOf(pen), 7);
  t.is(await stockOf(ink), 3);
  t.is(await pointsOf(userId), 1000 - 81);

  const { body: order } = await api('GET', `/orders/${answer.body.id}`);
  t.like(order, { id: answer.body.id, status: 'COMPLETED', userId, amount: 81 });
  t.deepEqual(order.items, [
    { productId: pen, quantity: 3 },
    { productId: ink, quantity: 2 },
  ]);
  t.truthy(Date.parse(order.createdAt) <= Date.parse(order.updatedAt));

  const rows = await orderRows(answer.body.id);
  t.like(rows.orders[0], { status: 'COMPLETED' });
  t.is(Number(rows.orders[0].amount), 81);
  t.like(rows.payments[0], { status: 'COMPLETED' });
  t.is(Number(rows.payments[0].amount), 81);
  t.is(rows.lines.length, 2);
  t.deepEqual(await audit({ orderIds: [answer.body.id], productIds: [pen, ink], userIds: [userId] }), []);
});

test('without Prefer: wait the order is accepted as PENDING with its Location, and completes later', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 1);
  const answer = await api('POST', '/orders', { body: { userId, items: [{ productId, quantity: 1 }] } });
  t.is(answer.status, 202);
  t.like(answer.body, { status: 'PENDING', userId });
  t.is(answer.headers.get('location'), `/api/orders/${answer.body.id}`);
  t.truthy(answer.headers.get('x-request-id'));

  const deadline = Date.now() + 30_000;
  let status = 'PENDING';
  while (status === 'PENDING' && Date.now() < deadline) {
    status = (await api('GET', `/orders/${answer.body.id}`)).body.status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.is(status, 'COMPLETED');
});
