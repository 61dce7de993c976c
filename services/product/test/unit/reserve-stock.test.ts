import test from 'ava';
import { decideReservation, reservationRecord } from '../../src/domain/reserve-stock.js';

const products = new Map([
  ['p1', { id: 'p1', name: 'Pen', price: 3, stock: 10 }],
  ['p2', { id: 'p2', name: 'Ink', price: 7, stock: 1 }],
]);

test('when every line has enough stock, all lines are reserved and priced', (t) => {
  t.deepEqual(
    decideReservation(
      [
        { productId: 'p1', quantity: 2 },
        { productId: 'p2', quantity: 1 },
      ],
      products,
    ),
    {
      reserved: true,
      amount: 13,
      lines: [
        { productId: 'p1', quantity: 2, unitPrice: 3 },
        { productId: 'p2', quantity: 1, unitPrice: 7 },
      ],
    },
  );
});

test('when the second line lacks stock, nothing is reserved and the reason names it', (t) => {
  t.deepEqual(
    decideReservation(
      [
        { productId: 'p1', quantity: 1 },
        { productId: 'p2', quantity: 2 },
      ],
      products,
    ),
    { reserved: false, reason: 'OUT_OF_STOCK', productId: 'p2' },
  );
});

test('an unknown product fails the whole order with UNKNOWN_PRODUCT', (t) => {
  t.deepEqual(decideReservation([{ productId: 'nope', quantity: 1 }], products), {
    reserved: false,
    reason: 'UNKNOWN_PRODUCT',
    productId: 'nope',
  });
});

test('lines of the same product are added up before the stock check', (t) => {
  const decision = decideReservation(
    [
      { productId: 'p2', quantity: 1 },
      { productId: 'p2', quantity: 1 },
    ],
    products,
  );
  t.deepEqual(decision, { reserved: false, reason: 'OUT_OF_STOCK', productId: 'p2' });
});

test('a reservation is recorded with its amount and lines', (t) => {
  const decision = decideReservation([{ productId: 'p1', quantity: 2 }], products);
  t.deepEqual(reservationRecord({ orderId: 'o1', userId: 'u1' }, decision), {
    orderId: 'o1',
    userId: 'u1',
    status: 'RESERVED',
    amount: 6,
    reason: null,
    productId: null,
    lines: [{ productId: 'p1', quantity: 2, unitPrice: 3 }],
  });
});

test('a refusal is recorded too, with its reason and product, taking nothing', (t) => {
  const decision = decideReservation([{ productId: 'p2', quantity: 5 }], products);
  t.deepEqual(reservationRecord({ orderId: 'o2', userId: 'u1' }, decision), {
    orderId: 'o2',
    userId: 'u1',
    status: 'REFUSED',
    amount: 0,
    reason: 'OUT_OF_STOCK',
    productId: 'p2',
    lines: [],
  });
});
