import test from 'ava';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/discovery.js';
import { kafka } from '../helpers/topics.js';
import type { DecodedEvent } from '../../src/events.js';

// `npm run events` against the stack: this file's own users, products and orders, so it can run beside the others.

const HAPPY_PATH = ['OrderCreated', 'StockReserved', 'PointsDeducted', 'OrderCompleted'];

/** What one `--json` line holds: a decoded record, its value an object (the test's events all decode). */
type JsonLine = Omit<DecodedEvent, 'value' | 'decodeError'> & { value: Record<string, unknown> | null };

const jsonLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as JsonLine);

/** Places an order that completes, and waits until its last event is on its topic. */
async function completedOrder(): Promise<string> {
  const userId = await createUser(100);
  const productId = await createProduct(10, 5);
  const placed = await placeOrder(userId, [{ productId, quantity: 2 }]);
  if (placed.body.status !== 'COMPLETED') throw new Error(`the order did not complete: ${JSON.stringify(placed.body)}`);
  const orderId = placed.body.id as string;
  await waitFor(
    `${orderId}'s OrderCompleted on order.events`,
    async () => jsonLines((await runCli('events', ['--order', orderId, '--type', 'OrderCompleted', '--from-beginning', '--json'])).stdout),
    (lines) => lines.length === 1,
    30_000,
  );
  return orderId;
}

test("--order with --from-beginning shows exactly the completed order's four events, in order, decoded", async (t) => {
  const orderId = await completedOrder();

  const table = await runCli('events', ['--order', orderId, '--from-beginning']);
  t.is(table.code, 0, table.stderr);
  const [header, ...rows] = table.stdout.trimEnd().split('\n');
  t.regex(header!, /^TIMESTAMP +TOPIC +P:OFFSET +KEY +EVENT TYPE +VALUE$/);
  t.deepEqual(
    rows.map((row) => row.split(/ +/)[4]),
    HAPPY_PATH,
  );
  const typeColumn = header!.indexOf('EVENT TYPE');
  t.true(
    rows.every((row, i) => row.slice(typeColumn).startsWith(HAPPY_PATH[i]!)),
    'the type column lines up under its header',
  );
  t.true(rows.every((row) => row.includes(orderId)));

  const json = await runCli('events', ['--order', orderId, '--from-beginning', '--json']);
  t.is(json.code, 0, json.stderr);
  const lines = jsonLines(json.stdout);
  t.deepEqual(
    lines.map((line) => line.eventType),
    HAPPY_PATH,
  );
  t.deepEqual(
    lines.map((line) => line.topic),
    ['order.events', 'product.events', 'user.events', 'order.events'],
  );
  for (const line of lines) {
    t.deepEqual(Object.keys(line), ['topic', 'partition', 'offset', 'timestamp', 'key', 'headers', 'eventType', 'value']);
    t.is(line.key, orderId);
    t.is(line.headers.eventType, line.eventType!);
    t.regex(line.headers.eventId ?? '', /^[0-9a-f-]{36}$/);
    t.like(line.value, { orderId });
    t.true(Date.parse(line.timestamp) >= (line.value!.occurredAt as number), 'the record comes after its outbox row');
  }
  t.like(lines[3]!.value, { amount: 20 });
  t.deepEqual(
    [...lines].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)),
    lines,
    'in time order',
  );

  const limited = jsonLines((await runCli('events', ['--order', orderId, '--from-beginning', '--json', '--limit', '2'])).stdout);
  t.deepEqual(
    limited.map((line) => line.eventType),
    HAPPY_PATH.slice(0, 2),
  );
  const typed = jsonLines(
    (await runCli('events', ['--order', orderId, '--type', 'StockReserved', '--topic', 'product.events', '--from-beginning', '--json']))
      .stdout,
  );
  t.deepEqual(
    typed.map((line) => [line.topic, line.eventType]),
    [['product.events', 'StockReserved']],
  );
});

test('--since leaves out the events from before it', async (t) => {
  const before = await completedOrder();
  // Just after the last record of the first order, by the records' own clock (Connect's), not this one's.
  const earlier = jsonLines((await runCli('events', ['--order', before, '--from-beginning', '--json'])).stdout);
  const since = new Date(Math.max(...earlier.map((line) => Date.parse(line.timestamp))) + 1).toISOString();
  const after = await completedOrder();

  const read = await runCli('events', ['--since', since, '--json']);
  t.is(read.code, 0, read.stderr);
  const lines = jsonLines(read.stdout);
  t.deepEqual(
    lines.filter((line) => line.key === after).map((line) => line.eventType),
    HAPPY_PATH,
  );
  t.deepEqual(
    lines.filter((line) => line.key === before),
    [],
    'nothing of the order finished before --since',
  );
  t.true(lines.every((line) => line.timestamp >= since));

  const byDuration = jsonLines((await runCli('events', ['--since', '1h', '--json', '--order', before])).stdout);
  t.deepEqual(
    byDuration.map((line) => line.eventType),
    HAPPY_PATH,
    'a duration reaches back from now',
  );
});

test('by default it follows only new events, and Ctrl-C ends it cleanly with its consumer group deleted', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(10, 5);
  const follower = spawnCli('events', ['--json']);
  t.teardown(() => void follower.child.kill('SIGKILL'));
  await waitFor(
    'the follower reading',
    async () => follower.stderr(),
    (text) => text.includes('following'),
    60_000,
  );
  const groupId = /consumer group (events-cli-[0-9a-f-]+)/.exec(follower.stderr())?.[1];
  t.truthy(groupId, follower.stderr());

  const placed = await placeOrder(userId, [{ productId, quantity: 1 }]);
  t.is(placed.body.status, 'COMPLETED');
  const orderId = placed.body.id as string;
  const mine = () => jsonLines(follower.stdout()).filter((line) => line.key === orderId);
  await waitFor(
    "the order's four events followed",
    async () => mine().length,
    (n) => n >= 4,
    30_000,
  );
  // As they arrive: the three topics' partitions are fetched side by side, so not necessarily in time order.
  t.deepEqual(
    mine()
      .map((line) => line.eventType)
      .sort(),
    [...HAPPY_PATH].sort(),
  );

  follower.child.kill('SIGINT');
  t.is(await follower.exited, 0, follower.stderr());
  t.notRegex(follower.stderr(), /Error|at .*\.js/, 'no stack trace');
  const admin = kafka.admin();
  await admin.connect();
  try {
    t.false(
      (await admin.listGroups()).groups.some((group) => group.groupId === groupId),
      `${groupId} deleted`,
    );
  } finally {
    await admin.disconnect();
  }
});

test('a bad option or an unknown topic is a one-line error and exit code 2', async (t) => {
  for (const args of [
    ['--bogus'],
    ['--since', 'yesterday'],
    ['--from-beginning', '--since', '5m'],
    ['--limit', '0'],
    ['--type', 'OrderShipped'],
    ['--topic', 'no-such.events'],
  ]) {
    const outcome = await runCli('events', args);
    t.is(outcome.code, 2, `${args.join(' ')}: ${outcome.stderr}`);
    t.is(outcome.stderr.trimEnd().split('\n').length, 1, outcome.stderr);
    t.regex(outcome.stderr, /^events: /);
    t.is(outcome.stdout, '');
  }
});
