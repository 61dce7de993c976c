import test from 'ava';
import { randomUUID } from 'node:crypto';
import { api, bearer, createProduct, createUser, placeOrder, subject } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';
import { isJsonError, isValidationFailure, seenFetch, seenRaw, writesNothing } from './helpers/checks.js';
import { httpRequest, rawExchange } from './helpers/raw-http.js';

// Hostile request bodies and paths through the gateway. Each refusal is checked for its status, its JSON
// error and the rows it could have written; the ones that must be accepted are checked for what they wrote.
// Serial: a case compares rows before and after its request, and this file's own requests are the only
// ones that touch its users, products and sagas.

const { dbs, audit } = databases();
const newMarker = () => `sec-${randomUUID().slice(0, 13)}`;

/** A user and a product to read by their ids. */
const fixture = (async () => ({ userId: await createUser(1_000), productId: await createProduct(1, 1_000) }))();

// --- Names -------------------------------------------------------------------------------------------

/**
 * Each name as the text between the quotes of a JSON string, so that escapes (lone surrogates
 * included) reach the server exactly as written; `m` is the case's marker, where the name can hold one.
 */
const hostileNames: Array<[string, (m: string) => string]> = [
  ['NUL', (m) => `${m}\\u0000`],
  ['BEL', (m) => `${m}\\u0007`],
  ['DEL', (m) => `${m}\\u007f`],
  ['an ANSI colour escape', (m) => `\\u001b[31m${m}\\u001b[0m`],
  ['C1 NEL (U+0085)', (m) => `${m}\\u0085`],
  ['C1 CSI (U+009B)', (m) => `${m}\\u009b31m`],
  ['a line feed', (m) => `${m}\\nX-Injected: 1`],
  ['a carriage return', (m) => `${m}\\rX`],
  ['a tab', (m) => `${m}\\tX`],
  ['a right-to-left override (U+202E)', (m) => `${m}\\u202etxt.exe`],
  ['a left-to-right isolate (U+2066)', (m) => `${m}\\u2066X\\u2069`],
  ['a zero-width space inside', (m) => `${m}\\u200bX`],
  ['zero-width characters only', () => '\\u200b\\u200d\\ufeff'],
  ['ASCII spaces only', () => '   '],
  ['Unicode spaces only', () => '\\u00a0\\u2003\\u3000'],
  ['a lone high surrogate', (m) => `${m}\\ud800`],
  ['a lone low surrogate', (m) => `${m}\\udc00`],
  ['a reversed surrogate pair', (m) => `\\udc00\\ud800${m}`],
  ['nothing (empty)', () => ''],
];

const refusesName = test.macro({
  async exec(t, resource: 'users' | 'products', name: (m: string) => string) {
    const marker = newMarker();
    const text = name(marker);
    const raw = resource === 'users' ? `{"name":"${text}","points":1}` : `{"name":"${text}","price":1,"stock":1}`;
    // A name without a marker is looked for as sent and as trimmed (what a service that trims would store).
    const decoded = JSON.parse(`"${text}"`) as string;
    const scope = text.includes(marker) ? { marker } : { names: [decoded, decoded.trim()] };
    const answer = await writesNothing(t, dbs, scope, () => api('POST', `/${resource}`, { raw }));
    isValidationFailure(t, seenFetch(answer), 'name');
  },
  title: (what = '', resource) => `POST /api/${resource} with a name of ${what} is a 400 VALIDATION_FAILED and writes nothing`,
});

for (const [what, name] of hostileNames) {
  // bad-input.test.ts already refuses an empty user name.
  if (what !== 'nothing (empty)') test.serial(what, refusesName, 'users', name);
  test.serial(what, refusesName, 'products', name);
}

// --- Integer fields ----------------------------------------------------------------------------------

/** JSON number literals that are not integer literals, and values that are not numbers at all. */
const notIntegers = ['1e-400', '5.0', '1e2', '-0.0', '1.5', '9007199254740993', '"5"', 'true', 'null'];

const refusesInteger = test.macro({
  async exec(t, resource: 'users' | 'products', field: 'points' | 'price' | 'stock', literal: string) {
    const marker = newMarker();
    const fields = resource === 'users' ? { points: '1' } : { price: '1', stock: '1' };
    const raw = `{"name":"${marker}",${Object.entries({ ...fields, [field]: literal })
      .map(([key, value]) => `"${key}":${value}`)
      .join(',')}}`;
    const answer = await writesNothing(t, dbs, { marker }, () => api('POST', `/${resource}`, { raw }));
    isValidationFailure(t, seenFetch(answer), field, raw);
  },
  title: (_, resource, field, literal) => `POST /api/${resource} with "${field}": ${literal} is a 400 VALIDATION_FAILED and writes nothing`,
});

for (const literal of notIntegers) test.serial(refusesInteger, 'users', 'points', literal);
for (const literal of notIntegers) test.serial(refusesInteger, 'products', 'stock', literal);
for (const literal of ['1e-400', '5.0', '1e2']) test.serial(refusesInteger, 'products', 'price', literal);

const refusesQuantity = test.macro({
  async exec(t, literal: string) {
    // A user and a product of its own: an order that got through would go on changing them after the check.
    const userId = await createUser(1_000);
    const productId = await createProduct(1, 1_000);
    const key = `sec-${randomUUID()}`;
    const raw = `{"userId":"${userId}","items":[{"productId":"${productId}","quantity":${literal}}]}`;
    const answer = await writesNothing(t, dbs, { userIds: [userId], productIds: [productId], subject, idempotencyKeys: [key] }, () =>
      api('POST', '/orders', { raw, headers: { 'idempotency-key': key } }),
    );
    isValidationFailure(t, seenFetch(answer), 'quantity', raw);
  },
  title: (_, literal) => `POST /api/orders with "quantity": ${literal} is a 400 VALIDATION_FAILED and writes nothing`,
});

for (const literal of notIntegers) test.serial(refusesQuantity, literal);

// --- Ids in upper case -------------------------------------------------------------------------------

test.serial('a product and a user are found by their id in upper case, and answered with it in lower case', async (t) => {
  const { userId, productId } = await fixture;
  const product = await api('GET', `/products/${productId.toUpperCase()}`);
  t.is(product.status, 200, JSON.stringify(product.body));
  t.is(product.body.id, productId);
  const user = await api('GET', `/users/${userId.toUpperCase()}`);
  t.is(user.status, 200, JSON.stringify(user.body));
  t.is(user.body.id, userId);
});

test.serial('one product on two lines, in lower and in upper case, is a 400 VALIDATION_FAILED and writes nothing', async (t) => {
  const userId = await createUser(1_000);
  const productId = await createProduct(1, 1_000);
  const key = `sec-${randomUUID()}`;
  const body = {
    userId,
    items: [
      { productId, quantity: 1 },
      { productId: productId.toUpperCase(), quantity: 1 },
    ],
  };
  const answer = await writesNothing(t, dbs, { userIds: [userId], productIds: [productId], subject, idempotencyKeys: [key] }, () =>
    api('POST', '/orders', { body, headers: { 'idempotency-key': key } }),
  );
  isValidationFailure(t, seenFetch(answer), 'items');
});

test.serial('an order with ids in upper case completes, and every row it leaves holds them in lower case', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(2, 5);
  const placed = await placeOrder(userId.toUpperCase(), [{ productId: productId.toUpperCase(), quantity: 1 }]);
  t.is(placed.status, 201, JSON.stringify(placed.body));
  t.is(placed.body.status, 'COMPLETED');
  t.is(placed.body.userId, userId, 'the answer says the id in lower case');
  t.is(placed.body.items?.[0]?.productId, productId);
  const orderId: string = placed.body.id;
  const stored = {
    saga: (await dbs.order('sagas').where({ order_id: orderId }).first('user_id'))?.user_id,
    order: (await dbs.order('orders').where({ id: orderId }).first('user_id'))?.user_id,
    line: (await dbs.order('order_lines').where({ order_id: orderId }).first('product_id'))?.product_id,
    reservation: (await dbs.product('reservations').where({ order_id: orderId }).first('user_id'))?.user_id,
    reservationLine: (await dbs.product('reservation_lines').where({ order_id: orderId }).first('product_id'))?.product_id,
    deduction: (await dbs.user('point_deductions').where({ order_id: orderId }).first('user_id'))?.user_id,
  };
  t.deepEqual(stored, { saga: userId, order: userId, line: productId, reservation: userId, reservationLine: productId, deduction: userId });
  // The audit that proves nothing was lost sees this user's points moved with a deduction to match.
  t.deepEqual(await audit({ orderIds: [orderId], productIds: [productId], userIds: [userId] }), []);
});

test.serial('Idempotency-Keys that differ only in case are two keys: two orders', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const key = `sec-${randomUUID()}-C-Key`;
  const first = await placeOrder(userId, [{ productId, quantity: 1 }], { 'idempotency-key': key });
  const second = await placeOrder(userId, [{ productId, quantity: 1 }], { 'idempotency-key': key.toLowerCase() });
  t.is(first.status, 201, JSON.stringify(first.body));
  t.is(second.status, 201, JSON.stringify(second.body));
  t.not(second.body.id, first.body.id, 'a second order, not the first one again');
  const keys = await dbs.order('sagas').whereIn('order_id', [first.body.id, second.body.id]).pluck('idempotency_key');
  t.deepEqual([...keys].sort(), [key, key.toLowerCase()].sort(), 'each saga keeps its key byte for byte');
});

// --- Paths that do not percent-decode ----------------------------------------------------------------

const malformedPath = test.macro({
  async exec(t, path: string) {
    const request = httpRequest('GET', path, { headers: [['Authorization', `Bearer ${await bearer()}`]] });
    const { final, raw } = await rawExchange(request);
    isJsonError(t, seenRaw(final), 400, 'MALFORMED_PATH', raw.slice(0, 300));
  },
  title: (_, path) => `GET ${path} is a 400 MALFORMED_PATH`,
});

for (const path of ['/api/products/%ZZ', '/api/orders/%ZZ', '/api/users/%E0%A4%A', '/api/products/%C0%AF'])
  test.serial(malformedPath, path);
