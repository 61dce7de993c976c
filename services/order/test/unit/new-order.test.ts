import test from 'ava';
import { newOrder } from '../../src/http/order-routes.js';

const USER = '5B0E3C2A-9D4F-4E8B-A1C3-7F2D6E9B0A14';
const PRODUCT = 'C0FFEE00-1234-4ABC-8DEF-00112233AABB';

test('ids in an order come out in lower case, so rows and events carry one spelling', (t) => {
  const order = newOrder.parse({ userId: USER, items: [{ productId: PRODUCT, quantity: 2 }] });
  t.deepEqual(order, { userId: USER.toLowerCase(), items: [{ productId: PRODUCT.toLowerCase(), quantity: 2 }] });
});

test('one product on two lines in different case is refused by the duplicate-line rule', (t) => {
  const result = newOrder.safeParse({
    userId: USER,
    items: [
      { productId: PRODUCT, quantity: 1 },
      { productId: PRODUCT.toLowerCase(), quantity: 1 },
    ],
  });
  t.false(result.success);
  t.deepEqual(
    result.error?.issues.map((issue) => issue.message),
    ['each product may appear on one line only'],
  );
});

test('ids that are not UUIDs are still refused', (t) => {
  for (const userId of ['not-a-uuid', `${USER} `, USER.replaceAll('-', ''), 42]) {
    t.false(newOrder.safeParse({ userId, items: [{ productId: PRODUCT, quantity: 1 }] }).success, String(userId));
  }
});
