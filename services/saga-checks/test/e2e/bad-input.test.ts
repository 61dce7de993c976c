import test from 'ava';
import { randomUUID } from 'node:crypto';
import { api, createProduct, createUser } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';

const { dbs } = databases();

const ready = (async () => ({ userId: await createUser(100), productId: await createProduct(1, 10) }))();

/** Every bad order carries its own Idempotency-Key, so "nothing was written" can be checked exactly. */
async function rejectsOrder(
  t: import('ava').ExecutionContext,
  request: { body?: unknown; raw?: string; headers?: Record<string, string> },
  status: number,
  code: string,
) {
  const key = randomUUID();
  const answer = await api('POST', '/orders', { ...request, headers: { 'idempotency-key': key, ...request.headers } });
  t.is(answer.status, status, JSON.stringify(answer.body));
  t.is(answer.body?.error?.code, code, JSON.stringify(answer.body));
  t.is(typeof answer.body?.error?.message, 'string');
  t.is((await dbs.order('sagas').where({ idempotency_key: key })).length, 0, 'no saga row');
}

const valid = async () => {
  const { userId, productId } = await ready;
  return { userId, items: [{ productId, quantity: 1 }] };
};

test('malformed JSON is a 400 MALFORMED_JSON', async (t) => {
  await rejectsOrder(t, { raw: '{"userId": ' }, 400, 'MALFORMED_JSON');
});

test('a body that is not JSON at all is refused with 415', async (t) => {
  await rejectsOrder(
    t,
    { raw: 'userId=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
});

test('missing, extra and mistyped fields are a 400 VALIDATION_FAILED', async (t) => {
  const order = await valid();
  await rejectsOrder(t, { body: { items: order.items } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: { userId: order.userId } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: { ...order, coupon: 'FREE' } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: { ...order, items: [{ ...order.items[0], discount: 1 }] } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: { ...order, userId: 42 } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: { ...order, items: 'all of them' } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: [order] }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: null }, 400, 'VALIDATION_FAILED');
});

for (const quantity of [0, -1, 1.5, 1e9, '1', null]) {
  test(`quantity ${JSON.stringify(quantity)} is a 400 VALIDATION_FAILED`, async (t) => {
    const order = await valid();
    await rejectsOrder(t, { body: { ...order, items: [{ productId: order.items[0]!.productId, quantity }] } }, 400, 'VALIDATION_FAILED');
  });
}

test('an empty item list, too many lines and a product on two lines are refused', async (t) => {
  const order = await valid();
  await rejectsOrder(t, { body: { ...order, items: [] } }, 400, 'VALIDATION_FAILED');
  const many = Array.from({ length: 101 }, () => ({ productId: randomUUID(), quantity: 1 }));
  await rejectsOrder(t, { body: { ...order, items: many } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: { ...order, items: [order.items[0], order.items[0]] } }, 400, 'VALIDATION_FAILED');
});

test('ids that are not UUIDs are a 400; unknown order ids are a 404', async (t) => {
  const order = await valid();
  await rejectsOrder(t, { body: { ...order, userId: 'not-a-uuid' } }, 400, 'VALIDATION_FAILED');
  await rejectsOrder(t, { body: { ...order, items: [{ productId: '42', quantity: 1 }] } }, 400, 'VALIDATION_FAILED');
  t.like((await api('GET', '/orders/not-a-uuid')).body.error, { code: 'INVALID_ID' });
  const unknown = await api('GET', `/orders/${randomUUID()}`);
  t.is(unknown.status, 404);
  t.is(unknown.body.error.code, 'ORDER_NOT_FOUND');
  t.is((await api('GET', `/users/${randomUUID()}`)).status, 404);
  t.is((await api('GET', `/products/${randomUUID()}`)).status, 404);
});

test('a 1 MB body is refused with 413 before anything is parsed', async (t) => {
  const order = await valid();
  await rejectsOrder(t, { raw: JSON.stringify({ ...order, padding: 'x'.repeat(1024 * 1024) }) }, 413, 'BODY_TOO_LARGE');
});

test('a malformed Idempotency-Key is a 400', async (t) => {
  const answer = await api('POST', '/orders', { body: await valid(), headers: { 'idempotency-key': ' ' } });
  t.is(answer.status, 400);
  t.is(answer.body.error.code, 'INVALID_IDEMPOTENCY_KEY');
});

test('bad users and products are refused and not created', async (t) => {
  const marker = `bad-${randomUUID()}`;
  for (const body of [
    { name: marker },
    { name: marker, points: -1 },
    { name: marker, points: 1.5 },
    { name: '', points: 1 },
    { name: marker, points: 1, admin: true },
  ]) {
    const answer = await api('POST', '/users', { body });
    t.is(answer.status, 400, JSON.stringify(body));
    t.is(answer.body.error.code, 'VALIDATION_FAILED');
  }
  for (const body of [
    { name: marker, price: 1 },
    { name: marker, price: -1, stock: 1 },
    { name: marker, price: 1, stock: 0.5 },
    { name: marker, price: '1', stock: 1 },
  ]) {
    const answer = await api('POST', '/products', { body });
    t.is(answer.status, 400, JSON.stringify(body));
  }
  t.is((await dbs.user('users').where({ name: marker })).length, 0);
  t.is((await dbs.product('products').where({ name: marker })).length, 0);
});

test('an unknown route is a JSON 404', async (t) => {
  const answer = await api('GET', '/nothing-here');
  t.is(answer.status, 404);
  t.is(answer.body.error.code, 'NOT_FOUND');
});
