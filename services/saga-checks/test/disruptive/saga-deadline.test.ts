import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { logFile, serviceInstanceNames, startComponents, startExtraInstance, stopComponents } from '@cdc-outbox-saga/local-stack';
import { EventCodec, createSchemaRegistry } from '@cdc-outbox-saga/platform';
import { api, createProduct, createUser } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { databases } from '../helpers/databases.js';
import { freePort, gatewayInstances, waitFor } from '../helpers/discovery.js';
import { kafka, readBetween, topicEnds, type Offsets } from '../helpers/topics.js';
import { readSagaFacts } from '../../src/saga-read.js';
import { sagaState } from '../../src/saga-state.js';
import type { SagaStory } from '../../src/saga-story.js';

// Disruptive: it stops every instance of a service for a while, and an order instance of its own joins the
// stack with a 5 s saga deadline, swept every 500 ms. The stack's own order instances keep the configured
// deadline (300 s), so this one is the instance that cancels. Its settings come through $NODE_CONFIG, which
// sits above the config service's answer, as an operator's override would.
const { dbs, orderRows, audit } = databases();
const DEADLINE_SECONDS = 5;
const sweeperId = `order-deadline-${randomUUID().slice(0, 6)}`;
// Set in the before hook: AVA wants every test declared before the file's first await.
let sweeperUrl = '';

test.before(async () => {
  const sweeperPort = await freePort();
  sweeperUrl = `http://127.0.0.1:${sweeperPort}`;
  await startExtraInstance('order', sweeperId, sweeperPort, {
    NODE_CONFIG: JSON.stringify({ saga: { deadlineSeconds: DEADLINE_SECONDS, sweepIntervalMs: 500 } }),
  });
});
test.after.always(() => stopComponents([sweeperId]));

/** Every configured instance routable through the gateway, whatever the test before this one stopped. */
async function allRoutable(): Promise<void> {
  const configured = (service: string) => serviceInstanceNames().filter((name) => name.startsWith(`${service}-`)).length;
  await waitFor(
    'the gateway routing to every configured instance',
    gatewayInstances,
    (n) => ['order', 'product', 'user'].every((service) => (n[service] ?? 0) >= configured(service)),
    30_000,
  );
}

/** Stops every instance of `service` until the returned function starts them again (on teardown at the latest). */
async function takeDown(t: ExecutionContext, service: 'product' | 'user'): Promise<() => Promise<void>> {
  const instances = serviceInstanceNames().filter((name) => name.startsWith(`${service}-`));
  const owners = await stopComponents(instances);
  let back: Promise<void> | undefined;
  const bringBack = () => (back ??= startComponents(instances, owners));
  t.teardown(bringBack);
  return bringBack;
}

const stockOf = async (productId: string) => Number((await dbs.product('products').where({ id: productId }).first('stock')).stock);
const pointsOf = async (userId: string) => Number((await dbs.user('users').where({ id: userId }).first('points')).points);
const sagaOf = (orderId: string) =>
  dbs.order('sagas').where({ order_id: orderId }).first('status', 'reason', 'amount', 'created_at', 'updated_at');
const deductionOf = (orderId: string) => dbs.user('point_deductions').where({ order_id: orderId }).first('status', 'reason');

/** The sum of a metric of this file's order instance over the label sets `labels` matches; undefined when absent. */
async function metric(name: string, labels = /.*/): Promise<number | undefined> {
  const text = await (await fetch(`${sweeperUrl}/metrics`)).text();
  const values = text
    .split('\n')
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && labels.test(line))
    .map((line) => Number(line.split(' ').at(-1)));
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

/**
 * Where `npm run saga` sees the order now, measured against this file's deadline. Read in-process: the
 * CLI's own start-up can take a good part of a 5 s deadline on a slow machine.
 */
async function sagaStateOf(orderId: string) {
  const codec = new EventCodec(createSchemaRegistry(process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7'));
  const facts = await readSagaFacts(dbs, kafka, codec, orderId, DEADLINE_SECONDS);
  if ('unknown' in facts) throw new Error(`npm run saga does not know ${orderId}`);
  return sagaState(facts);
}

/** Places an order without waiting for its outcome: 202 PENDING. */
async function placePending(userId: string, productId: string, quantity: number): Promise<string> {
  const placed = await api('POST', '/orders', { body: { userId, items: [{ productId, quantity }] } });
  if (placed.status !== 202) throw new Error(`placing the order answered ${placed.status}: ${JSON.stringify(placed.body)}`);
  return placed.body.id;
}

/** The id of the order's `type` event once it is on the topics (published since `since`). */
async function eventId(since: Offsets, orderId: string, type: string): Promise<string> {
  let id: string | null | undefined;
  await waitFor(
    `${type} of the order on its topic`,
    async () => (id = (await readBetween(since, await topicEnds())).find((e) => e.key === orderId && e.eventType === type)?.eventId),
    Boolean,
    30_000,
  );
  return id!;
}

/** Waits until the service owning `db` has handled the event (its processed-events record is there). */
async function handled(db: Knex, id: string, what: string): Promise<void> {
  await waitFor(what, () => db('processed_events').where({ event_id: id }).first('event_id'), Boolean, 60_000);
}

/** The saga ended by its deadline and not before, with every order row gone, reported in the log and the metrics. */
async function expectTimedOut(t: ExecutionContext, orderId: string): Promise<void> {
  await waitFor(
    'the saga cancelled by its deadline',
    () => sagaOf(orderId),
    (saga) => saga?.status !== 'PENDING',
    (DEADLINE_SECONDS + 20) * 1000,
  );
  const saga = await sagaOf(orderId);
  t.like(saga, { status: 'CANCELLED', reason: 'SAGA_TIMEOUT', amount: null });
  t.true(saga.updated_at.getTime() - saga.created_at.getTime() >= DEADLINE_SECONDS * 1000, 'not before its deadline');
  t.like((await api('GET', `/orders/${orderId}`)).body, { status: 'CANCELLED', reason: 'SAGA_TIMEOUT' });
  t.deepEqual(await orderRows(orderId), { orders: [], lines: [], payments: [] }, 'order, lines and payment deleted as in C1/C3');
  const warnings = () =>
    readFileSync(logFile(sweeperId), 'utf8')
      .split('\n')
      .filter((line) => line.includes(orderId) && line.includes('at its deadline'));
  await waitFor(
    'one warning naming the order',
    async () => warnings().length,
    (n) => n === 1,
    5000,
  );
  t.regex(warnings()[0]!, /"ageSeconds":\d/);
  await waitFor(
    'the cancellation counted as a SAGA_TIMEOUT outcome',
    () => metric('saga_outcomes_total', /reason="SAGA_TIMEOUT"/),
    (n) => (n ?? 0) >= 1,
    5000,
  );
}

test.serial(
  'with the user service down, the saga is cancelled at its deadline, its stock comes back, and the late StockReserved keeps no points',
  async (t) => {
    await allRoutable();
    const userId = await createUser(100);
    const productId = await createProduct(10, 5);
    const since = await topicEnds();
    const bringBack = await takeDown(t, 'user');

    const orderId = await placePending(userId, productId, 2);
    await waitFor(
      'the stock reserved',
      () => stockOf(productId),
      (stock) => stock === 3,
      15_000,
    );
    const pending = await sagaStateOf(orderId);
    t.like(pending, { status: 'PENDING', final: false, waitingFor: { service: 'user', on: 'StockReserved', deadLetter: null } });
    // The time left is rounded to 0.1 s: read within 50 ms of the order's placing (the reservation alone can
    // take less) it is still the whole deadline, so "not more than the deadline, and not yet run out".
    t.true(
      pending.deadline!.seconds === DEADLINE_SECONDS &&
        pending.deadline!.remainingSeconds <= DEADLINE_SECONDS &&
        pending.deadline!.remainingSeconds > 0,
      JSON.stringify(pending.deadline),
    );
    await waitFor(
      'the PENDING saga in the gauges',
      async () => [await metric('saga_pending_orders'), await metric('saga_oldest_pending_age_seconds')],
      ([count, age]) => (count ?? 0) >= 1 && (age ?? 0) > 0,
      DEADLINE_SECONDS * 1000,
    );
    await expectTimedOut(t, orderId);
    await waitFor(
      'the stock put back on OrderCancelled',
      () => stockOf(productId),
      (stock) => stock === 5,
      30_000,
    );
    t.like(await dbs.product('reservations').where({ order_id: orderId }).first(), { status: 'RELEASED', reason: null });
    const told = await runCli('saga', [orderId, '--json', '--deadline-seconds', String(DEADLINE_SECONDS)]);
    t.is(told.code, 0, told.stderr);
    const ended = JSON.parse(told.stdout) as SagaStory;
    t.like(ended.state, { status: 'CANCELLED', reason: 'SAGA_TIMEOUT', final: true, deadline: null, settling: [] });
    t.deepEqual(
      ended.story.flatMap((entry) => (entry.kind === 'event' ? [entry.eventType] : [])),
      ['OrderCreated', 'StockReserved', 'OrderCancelled'],
    );
    t.deepEqual(
      ended.story.flatMap((entry) => (entry.kind === 'decision' ? [`${entry.table} ${entry.status}`] : [])),
      ['reservations RESERVED', 'reservations RELEASED'],
    );

    // Back, the user service finds StockReserved and OrderCancelled waiting on two topics, and handles them in
    // either order: OrderCancelled first records CANCELLED, and StockReserved then takes nothing; StockReserved
    // first deducts, and OrderCancelled gives the points back (REFUNDED), while the order service ignores the
    // PointsDeducted of a saga that has ended.
    const reserved = await eventId(since, orderId, 'StockReserved');
    const cancelled = await eventId(since, orderId, 'OrderCancelled');
    await bringBack();
    await handled(dbs.user, reserved, 'the late StockReserved handled');
    await handled(dbs.user, cancelled, 'OrderCancelled handled by the user service');
    const deduction = await deductionOf(orderId);
    t.true(['CANCELLED', 'REFUNDED'].includes(deduction?.status), `the deduction row: ${JSON.stringify(deduction)}`);
    t.log(`the user service handled ${deduction?.status === 'CANCELLED' ? 'OrderCancelled' : 'StockReserved'} first`);
    if (deduction?.status === 'REFUNDED')
      await handled(dbs.order, await eventId(since, orderId, 'PointsDeducted'), 'the late PointsDeducted handled');
    t.is(await pointsOf(userId), 100, 'no points kept');
    t.like(await sagaOf(orderId), { status: 'CANCELLED', reason: 'SAGA_TIMEOUT' });
    t.deepEqual(await audit({ orderIds: [orderId], productIds: [productId], userIds: [userId], deadlineSeconds: DEADLINE_SECONDS }), []);
  },
);

test.serial(
  'with the product service down, the saga is cancelled at its deadline; the late reservation is released and the late StockReserved takes no points',
  async (t) => {
    await allRoutable();
    const userId = await createUser(100);
    const productId = await createProduct(10, 5);
    const since = await topicEnds();
    const bringBack = await takeDown(t, 'product');

    const orderId = await placePending(userId, productId, 2);
    await expectTimedOut(t, orderId);
    // The user service is up: it records the order's end before it ever hears of the order.
    await waitFor(
      'the user service recording the end',
      () => deductionOf(orderId),
      (row) => row?.status === 'CANCELLED',
      30_000,
    );
    t.like(await deductionOf(orderId), { reason: 'SAGA_TIMEOUT' });

    // Back, the product service reads OrderCreated, then OrderCancelled (one partition, in order): it reserves,
    // then releases. The user service finds the CANCELLED row for the late StockReserved and takes nothing.
    await bringBack();
    await waitFor(
      'the late reservation released',
      async () => (await dbs.product('reservations').where({ order_id: orderId }).first('status'))?.status,
      (status) => status === 'RELEASED',
      60_000,
    );
    t.is(await stockOf(productId), 5, 'the stock is back');
    await handled(dbs.user, await eventId(since, orderId, 'StockReserved'), 'the late StockReserved handled');
    t.like(await deductionOf(orderId), { status: 'CANCELLED' });
    t.is(await pointsOf(userId), 100, 'no points taken');
    t.like(await sagaOf(orderId), { status: 'CANCELLED', reason: 'SAGA_TIMEOUT' });
    t.deepEqual(await audit({ orderIds: [orderId], productIds: [productId], userIds: [userId], deadlineSeconds: DEADLINE_SECONDS }), []);
  },
);
