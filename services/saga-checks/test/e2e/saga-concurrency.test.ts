import test from 'ava';
import { createProduct, createUser, placeOrder, stockOf } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';

const { audit } = databases();

test('100 concurrent orders of one unit against a stock of 30: exactly 30 complete, 70 are OUT_OF_STOCK', async (t) => {
  const productId = await createProduct(1, 30);
  const users = await Promise.all(Array.from({ length: 10 }, () => createUser(1000)));
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) => placeOrder(users[i % users.length]!, [{ productId, quantity: 1 }])),
  );
  const statuses = answers.map((a) => `${a.status} ${a.body.status} ${a.body.reason ?? ''}`.trim());
  t.is(statuses.filter((s) => s === '201 COMPLETED').length, 30, statuses.join('\n'));
  t.is(statuses.filter((s) => s === '409 CANCELLED OUT_OF_STOCK').length, 70);
  t.is(await stockOf(productId), 0);
  t.deepEqual(await audit({ orderIds: answers.map((a) => a.body.id), productIds: [productId], userIds: users }), []);
});
