import test from 'ava';
import { randomUUID } from 'node:crypto';
import { rootSql, startExtraInstance, stopComponents } from '@cdc-outbox-saga/local-stack';
import { api, bearer, createProduct, createUser } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';
import { freePort } from '../helpers/discovery.js';

const { dbs } = databases();

// Disruptive: an extra order instance joins the stack for the length of this file, and the database server
// itself runs in New York's zone meanwhile (sessions that do not set their own zone get -05:00).
test.serial('an order instance and a database server in another time zone write the same UTC timestamps: POST and GET agree', async (t) => {
  await rootSql("SET GLOBAL time_zone = '-05:00'");
  t.teardown(() => rootSql("SET GLOBAL time_zone = 'SYSTEM'"));
  const port = await freePort();
  const id = `order-tz-${randomUUID().slice(0, 6)}`;
  await startExtraInstance('order', id, port, { TZ: 'America/New_York' });
  t.teardown(() => stopComponents([id]));
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const before = Date.now();
  // Straight to the New York instance, as the gateway would forward it (with the caller's own token).
  const response = await fetch(`http://127.0.0.1:${port}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=30', authorization: `Bearer ${await bearer()}` },
    body: JSON.stringify({ userId, items: [{ productId, quantity: 1 }] }),
  });
  const placed = (await response.json()) as { id: string; status: string; createdAt: string; updatedAt: string };
  t.is(response.status, 201);
  const createdAt = Date.parse(placed.createdAt);
  t.true(Math.abs(createdAt - before) < 10_000, `createdAt ${placed.createdAt} is now, in UTC`);
  // Read back through the gateway, by whichever (UTC) instance answers.
  const read = await api('GET', `/orders/${placed.id}`);
  t.is(read.status, 200);
  t.is(read.body.createdAt, placed.createdAt);
  t.true(Date.parse(read.body.updatedAt) >= createdAt);
  // The saga's duration, from timestamps written by the New York instance and by the consumers' sessions.
  const saga = await dbs.order('sagas').where({ order_id: placed.id }).first('created_at', 'updated_at');
  const durationMs = new Date(saga.updated_at).getTime() - new Date(saga.created_at).getTime();
  t.true(durationMs >= 0 && durationMs < 30_000, `saga took ${durationMs} ms`);
  t.true(Math.abs(new Date(saga.created_at).getTime() - createdAt) < 1000, 'the saga record is in UTC too');
});
