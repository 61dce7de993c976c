import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/discovery.js';
import type { SagaStory, StoryEntry } from '../../src/saga-story.js';

// `npm run saga` against the stack, for an order of each outcome the saga has without breaking anything: this
// file's own users and products, so it can run beside the others. The deadline and the dead letter are in
// test/disruptive (saga-deadline.test.ts, dlq-redrive.test.ts).

async function story(orderId: string): Promise<SagaStory> {
  const outcome = await runCli('saga', [orderId, '--json']);
  if (outcome.code !== 0) throw new Error(`saga ${orderId} exited ${outcome.code}: ${outcome.stderr}`);
  return JSON.parse(outcome.stdout) as SagaStory;
}

const events = (s: SagaStory) => s.story.filter((e): e is Extract<StoryEntry, { kind: 'event' }> => e.kind === 'event');
const decisions = (s: SagaStory) =>
  s.story
    .filter((e): e is Extract<StoryEntry, { kind: 'decision' }> => e.kind === 'decision')
    .map((e) => `${e.table} ${e.status}${e.reason ? ` ${e.reason}` : ''}`);

/**
 * The story once it has settled: every event `types` names on its topic, and each applied by every service
 * that acts on it (the last ones are published and applied a moment after the saga's outcome).
 */
async function settledStory(orderId: string, types: string[]): Promise<SagaStory> {
  return waitFor(
    `the story of ${orderId} complete`,
    () => story(orderId),
    (s) => types.every((type) => events(s).some((e) => e.eventType === type)) && events(s).every((e) => e.awaitedBy.length === 0),
    60_000,
  ).then(() => story(orderId));
}

function expectTimeOrder(t: import('ava').ExecutionContext, s: SagaStory) {
  const times = s.story.map((e) => Date.parse(e.at));
  t.deepEqual(
    [...times].sort((a, b) => a - b),
    times,
    'in time order',
  );
}

test("a completed order: its four events with their hops, both services' decisions, COMPLETED and final", async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(10, 5);
  const placed = await placeOrder(userId, [{ productId, quantity: 2 }]);
  t.is(placed.body.status, 'COMPLETED', JSON.stringify(placed.body));
  const s = await settledStory(placed.body.id, ['OrderCompleted']);

  t.deepEqual(
    events(s).map((e) => e.eventType),
    ['OrderCreated', 'StockReserved', 'PointsDeducted', 'OrderCompleted'],
  );
  t.deepEqual(
    events(s).map((e) => e.topic),
    ['order.events', 'product.events', 'user.events', 'order.events'],
  );
  for (const e of events(s)) {
    t.true(e.hopMs !== null && e.hopMs >= 0 && e.hopMs < 60_000, `${e.eventType} hop ${e.hopMs}`);
    t.is(e.redrivenFrom, null);
  }
  t.deepEqual(
    events(s).map((e) => e.handledBy.map((h) => h.group)),
    [['product-service'], ['user-service'], ['order-service'], []],
  );
  t.deepEqual(decisions(s), ['reservations RESERVED', 'point_deductions DEDUCTED']);
  t.deepEqual(
    s.story.filter((e) => e.kind === 'saga').map((e) => (e as { status: string }).status),
    ['PENDING', 'COMPLETED'],
  );
  t.like(s.saga, { orderId: placed.body.id, userId, status: 'COMPLETED', amount: 20, items: [{ productId, quantity: 2 }] });
  t.like(s.state, { status: 'COMPLETED', final: true, waitingFor: null, deadline: null, settling: [], anomalies: [] });
  t.deepEqual(
    s.story.filter((e) => e.kind === 'dead-letter'),
    [],
  );
  expectTimeOrder(t, s);

  const text = await runCli('saga', [placed.body.id.toUpperCase()]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, new RegExp(`^order ${placed.body.id}: user ${userId}, 1 line\\(s\\), amount 20\\nnow: COMPLETED, final;`));
  t.regex(text.stdout, /order\.events +OrderCreated at \d+:\d+; outbox → topic \d+ ms; applied by product-service \+\d+ ms/);
  t.regex(text.stdout, /order db +saga COMPLETED, amount 20/);
});

test('C1, stock refused: REFUSED, StockReservationFailed, the order cancelled with OUT_OF_STOCK', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(5, 1);
  const placed = await placeOrder(userId, [{ productId, quantity: 2 }]);
  t.like(placed.body, { status: 'CANCELLED', reason: 'OUT_OF_STOCK' });
  const s = await settledStory(placed.body.id, ['OrderCancelled']);

  t.deepEqual(
    events(s).map((e) => e.eventType),
    ['OrderCreated', 'StockReservationFailed', 'OrderCancelled'],
  );
  t.deepEqual(
    events(s)
      .at(-1)!
      .handledBy.map((h) => h.group)
      .sort(),
    ['product-service', 'user-service'],
  );
  // The user service records the order's end, never having been asked for points.
  t.deepEqual(decisions(s), ['reservations REFUSED OUT_OF_STOCK', 'point_deductions CANCELLED OUT_OF_STOCK']);
  t.like(s.state, { status: 'CANCELLED', reason: 'OUT_OF_STOCK', final: true, waitingFor: null, settling: [], anomalies: [] });
  expectTimeOrder(t, s);
  t.regex((await runCli('saga', [placed.body.id])).stdout, /\nnow: CANCELLED \(OUT_OF_STOCK\), final;/);
});

test('C2 + C3, points refused: the stock reserved then released, the order cancelled with INSUFFICIENT_POINTS', async (t) => {
  const userId = await createUser(50);
  const productId = await createProduct(20, 10);
  const placed = await placeOrder(userId, [{ productId, quantity: 3 }]);
  t.like(placed.body, { status: 'CANCELLED', reason: 'INSUFFICIENT_POINTS', amount: 60 });
  const s = await settledStory(placed.body.id, ['OrderCancelled']);

  t.deepEqual(
    events(s).map((e) => e.eventType),
    ['OrderCreated', 'StockReserved', 'PointsDeductionFailed', 'StockReleased', 'OrderCancelled'],
  );
  t.deepEqual(
    events(s).map((e) => e.handledBy.map((h) => h.group).sort()),
    [['product-service'], ['user-service'], ['product-service'], ['order-service'], ['product-service', 'user-service']],
  );
  t.deepEqual(decisions(s), ['reservations RESERVED', 'point_deductions REFUSED INSUFFICIENT_POINTS', 'reservations RELEASED']);
  t.like(s.state, { status: 'CANCELLED', reason: 'INSUFFICIENT_POINTS', final: true, waitingFor: null, settling: [], anomalies: [] });
  t.like(s.saga, { amount: 60 });
  expectTimeOrder(t, s);
});

test('an unknown order says so and exits 1; a malformed id is a usage error, exit 2', async (t) => {
  const unknown = randomUUID();
  const missing = await runCli('saga', [unknown]);
  t.is(missing.code, 1);
  t.is(missing.stdout, '');
  t.regex(missing.stderr, new RegExp(`^saga: no order ${unknown}: the order database has no saga record for it\\n$`));

  for (const args of [['not-an-id'], [], [unknown, '--bogus']]) {
    const bad = await runCli('saga', args);
    t.is(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    t.is(bad.stderr.trimEnd().split('\n').length, 1);
  }
});
