import test from 'ava';
import { newProduct, PRODUCT_NAME_MAX } from '../../src/http/product-routes.js';

test('a product name is stored trimmed, as it is answered', (t) => {
  t.deepEqual(newProduct.parse({ name: '  Fountain pen ', price: 3, stock: 10 }), { name: 'Fountain pen', price: 3, stock: 10 });
});

test('a product name may be as long as its column, in code points', (t) => {
  t.true(newProduct.safeParse({ name: '🖋'.repeat(PRODUCT_NAME_MAX), price: 1, stock: 1 }).success);
  t.false(newProduct.safeParse({ name: '🖋'.repeat(PRODUCT_NAME_MAX + 1), price: 1, stock: 1 }).success);
});

test('names with control or format characters, lone surrogates or nothing visible are refused', (t) => {
  for (const name of ['Pen\u0000', '\u001b[2JPen', 'Pen\nInk', 'Pen\u202Egnp', '\u200b', '\ud800', '   ', '']) {
    const result = newProduct.safeParse({ name, price: 1, stock: 1 });
    t.false(result.success, JSON.stringify(name));
    t.deepEqual(
      result.error?.issues.map((issue) => issue.path.join('.')),
      ['name'],
      JSON.stringify(name),
    );
  }
});

test('price and stock are whole numbers in range', (t) => {
  for (const [price, stock] of [
    [-1, 1],
    [1, -1],
    [1.5, 1],
    [1, 0.5],
    [1_000_000_001, 1],
    ['1', 1],
  ]) {
    t.false(newProduct.safeParse({ name: 'Pen', price, stock }).success, `${String(price)} ${String(stock)}`);
  }
});
