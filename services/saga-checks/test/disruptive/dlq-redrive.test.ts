import test from 'ava';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { settings, stackEnvironment } from '@cdc-outbox-saga/local-stack';
import { Kafka, logLevel } from 'kafkajs';
import { api, createProduct, createUser, pointsOf, stockOf } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { databases } from '../helpers/databases.js';
import { waitFor } from '../helpers/discovery.js';
import type { SagaStory } from '../../src/saga-story.js';

// Disruptive: for a few seconds the product table refuses any change of one (this file's own) product's stock,
// and the test leaves a dead-lettered OrderCreated and its re-drive markers on order.events.dlq.
const { dbs, ddl, audit } = databases();
const env = { ...process.env, ...stackEnvironment() };
const kafka = new Kafka({ clientId: 'dlq-redrive-test', brokers: env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
const run = promisify(execFile);
const DLQ = 'order.events.dlq';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and hands back its exit status and output, whatever the status. */
async function runToEnd(file: string, args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: settings.repoRoot, env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The built CLI itself, as `npm run dlq` runs it after building. */
const dlq = (...args: string[]) =>
  runToEnd(process.execPath, [join(settings.repoRoot, 'services/saga-checks/dist/src/dlq-cli.js'), ...args]);

interface Entry {
  id: string;
  partition: number;
  offset: string;
  eventType: string | null;
  eventId: string | null;
  key: string | null;
  consumerGroup: string | null;
  error: { code: string | null; class: string | null; message: string | null };
  original: { topic: string | null; partition: number | null; offset: string | null };
  redriven: boolean;
  redrives: Array<{ to: string | null; count: number | null }>;
}

async function entryFor(orderId: string): Promise<Entry | undefined> {
  const listed = await dlq('list', '--topic', DLQ, '--json');
  if (listed.code !== 0) throw new Error(`dlq list exited ${listed.code}: ${listed.stderr}`);
  const { entries } = JSON.parse(listed.stdout) as { entries: Entry[] };
  return entries.find((entry) => entry.key === orderId && entry.eventType === 'OrderCreated');
}

const orderStatus = async (orderId: string) => (await api('GET', `/orders/${orderId}`)).body.status as string;

/** What `npm run saga -- <orderId> --json` says of the order. */
async function sagaStory(orderId: string): Promise<SagaStory> {
  const outcome = await runCli('saga', [orderId, '--json']);
  if (outcome.code !== 0) throw new Error(`saga exited ${outcome.code}: ${outcome.stderr}`);
  return JSON.parse(outcome.stdout) as SagaStory;
}

/** The next offset of one partition: what has been produced to it. */
async function highWatermark(topic: string, partition: number): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition)!.high;
  } finally {
    await admin.disconnect();
  }
}

/** Where the product service's consumer group stands on one partition of order.events. */
async function productServiceCommitted(partition: number): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: 'product-service', topics: ['order.events'] });
    return BigInt(offsets!.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
  } finally {
    await admin.disconnect();
  }
}

const coordinates = (text: string) => {
  const [topic, partition, offset] = text.split(':') as [string, string, string];
  return { topic, partition: Number(partition), offset: BigInt(offset) };
};

test.serial('an order dead-lettered for a cause that is then fixed is re-driven by npm run dlq, and its saga completes', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(10, 5);
  t.regex(productId, /^[0-9a-f-]{36}$/);

  // The cause: a rule on the product table that this product's stock may not change (a constraint someone
  // added, say). Reserving stock for it breaks the rule, MariaDB answers 4025 (a constraint failed): an error
  // about the data, permanent, so the product service dead-letters the OrderCreated and the order waits.
  const constraint = `dlq_test_${randomUUID().slice(0, 8)}`;
  await ddl.product.raw(`ALTER TABLE products ADD CONSTRAINT ${constraint} CHECK (id <> ? OR stock = 5)`, [productId]);
  let fixed = false;
  const fix = async () => {
    if (fixed) return;
    fixed = true;
    await ddl.product.raw(`ALTER TABLE products DROP CONSTRAINT ${constraint}`);
  };
  t.teardown(() => fix().catch(() => undefined));

  const placed = await api('POST', '/orders', { body: { userId, items: [{ productId, quantity: 2 }] } });
  t.is(placed.status, 202, JSON.stringify(placed.body));
  const orderId = placed.body.id as string;

  await waitFor(
    `${orderId}'s OrderCreated on ${DLQ}`,
    () => entryFor(orderId),
    (entry) => entry !== undefined,
    60_000,
  );
  const failed = (await entryFor(orderId))!;
  t.like(failed, {
    consumerGroup: 'product-service',
    redriven: false,
    error: { class: 'permanent' },
    original: { topic: 'order.events' },
  });
  t.truthy(failed.eventId);
  t.true(failed.error.message?.includes(constraint), `the reason names the constraint: ${failed.error.message}`);
  const listing = await dlq('list', '--topic', DLQ);
  t.is(listing.code, 0);
  t.true(listing.stdout.includes(failed.id) && listing.stdout.includes(orderId), 'the table shows the message and its order');
  // Nothing happened to the order: no stock taken, no decision recorded, still PENDING.
  t.is(await orderStatus(orderId), 'PENDING');
  t.is(await stockOf(productId), 5);
  t.deepEqual(await dbs.product('reservations').where({ order_id: orderId }), []);
  // npm run saga says where it is stuck and why.
  const stuck = await sagaStory(orderId);
  t.like(stuck.state, {
    status: 'PENDING',
    final: false,
    waitingFor: { service: 'product', on: 'OrderCreated', phase: 'consumer', deadLetter: { id: failed.id } },
  });
  t.like(
    stuck.story.find((entry) => entry.kind === 'dead-letter'),
    { id: failed.id, group: 'product-service', redriven: false },
  );
  const told = await runCli('saga', [orderId]);
  t.regex(told.stdout, /\nnow: PENDING for [\d.]+ s\n {2}waits for the product service to reserve the stock on OrderCreated/);
  t.true(told.stdout.includes(`fix the cause, then: npm run dlq -- redrive ${failed.id}`), told.stdout);

  // The cause fixed; re-driven through the root script (it builds, then runs the CLI).
  await fix();
  const redriven = await runToEnd('npm', ['run', '-s', 'dlq', '--', 'redrive', failed.id, '--json']);
  t.is(redriven.code, 0, redriven.stderr);
  const { redriven: results } = JSON.parse(redriven.stdout) as { redriven: Array<{ from: string[]; to: string }> };
  t.is(results.length, 1);
  t.deepEqual(results[0]!.from, [failed.id]);
  const to = coordinates(results[0]!.to);
  t.is(to.topic, 'order.events');
  t.is(to.partition, failed.original.partition!, "the key lands on the partition of its order's events");

  await waitFor(
    `order ${orderId} completed`,
    () => orderStatus(orderId),
    (status) => status === 'COMPLETED',
    60_000,
  );
  t.is(await stockOf(productId), 3);
  t.is(await pointsOf(userId), 80);

  const after = (await entryFor(orderId))!;
  t.true(after.redriven);
  t.deepEqual(
    after.redrives.map((r) => [r.to, r.count]),
    [[results[0]!.to, 1]],
  );
  const done = await sagaStory(orderId);
  t.like(done.state, { status: 'COMPLETED', final: true, waitingFor: null });
  t.like(
    done.story.find((entry) => entry.kind === 'dead-letter'),
    { id: failed.id, redriven: true },
  );
  t.like(
    done.story.find((entry) => entry.kind === 're-drive'),
    { of: failed.id, to: results[0]!.to },
  );
  t.true(
    done.story.some((entry) => entry.kind === 'event' && entry.eventType === 'OrderCreated' && entry.redrivenFrom === failed.id),
    'the re-driven copy',
  );

  // --all would not re-drive it again.
  const dryRun = await dlq('redrive', '--all', '--topic', DLQ, '--dry-run', '--json');
  t.is(dryRun.code, 0, dryRun.stderr);
  const plan = JSON.parse(dryRun.stdout) as { wouldRedrive: Array<{ from: string[] }>; skipped: Array<{ id: string; reason: string }> };
  t.false(plan.wouldRedrive.some((step) => step.from.includes(failed.id)));
  t.regex(plan.skipped.find((skip) => skip.id === failed.id)?.reason ?? '', /re-driven already/);

  // Refused, and nothing produced: the same message again without --force, and unknown coordinates (all or nothing).
  const highBefore = await highWatermark('order.events', to.partition);
  const dlqHighBefore = await highWatermark(DLQ, failed.partition);
  const again = await dlq('redrive', failed.id);
  t.is(again.code, 1);
  t.regex(again.stderr, /re-driven already/);
  const unknown = await dlq('redrive', failed.id, `${DLQ}:${failed.partition}:${BigInt(dlqHighBefore) + 1000n}`, '--force');
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no dead-lettered message there/);
  t.is(await highWatermark('order.events', to.partition), highBefore);
  t.is(await highWatermark(DLQ, failed.partition), dlqHighBefore);

  // Re-driving twice is harmless: --force produces it once more, the product service finds its event id
  // in processed_events, and nothing changes.
  const forced = await dlq('redrive', failed.id, '--force', '--json');
  t.is(forced.code, 0, forced.stderr);
  const second = coordinates((JSON.parse(forced.stdout) as { redriven: Array<{ to: string }> }).redriven[0]!.to);
  t.true(second.offset > to.offset);
  await waitFor(
    'the product service past the second copy',
    () => productServiceCommitted(second.partition),
    (at) => at > second.offset,
    60_000,
  );
  t.is(await orderStatus(orderId), 'COMPLETED');
  t.is(await stockOf(productId), 3);
  t.is(await pointsOf(userId), 80);
  const processed = await dbs.product('processed_events').where({ consumer_group: 'product-service', event_id: failed.eventId! });
  t.is(processed.length, 1);
  t.deepEqual(
    (await entryFor(orderId))!.redrives.map((r) => r.count),
    [1, 2],
  );

  t.deepEqual(await audit({ orderIds: [orderId], productIds: [productId], userIds: [userId] }), []);
});
