import test from 'ava';
import { DlqHeaders, foldDlq, markerMessage, planRedrive, type DlqRecord } from '../../src/dlq.js';
import { UsageError } from '../../src/command-line.js';
import { parseCoordinates, parseDlqArgs } from '../../src/dlq-args.js';
import { formatList } from '../../src/dlq-format.js';

const now = new Date('2025-06-01T12:00:00.000Z');

/** A dead-lettered record as the IdempotentConsumer writes it (header values are Buffers when read back). */
function deadLetter(
  partition: number,
  offset: number,
  over: { eventId?: string; group?: string; failedAt?: string; key?: string | null; extra?: Record<string, string> } = {},
): DlqRecord {
  const headers: Record<string, string> = {
    eventId: over.eventId ?? `event-${partition}-${offset}`,
    eventType: 'OrderCreated',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    [DlqHeaders.errorCode]: 'ER_CONSTRAINT_FAILED',
    [DlqHeaders.errorClass]: 'permanent',
    [DlqHeaders.errorMessage]: 'CONSTRAINT `x` failed for `product_db`.`products`',
    [DlqHeaders.originalTopic]: 'order.events',
    [DlqHeaders.originalPartition]: '2',
    [DlqHeaders.originalOffset]: '40',
    [DlqHeaders.consumerGroup]: over.group ?? 'product-service',
    [DlqHeaders.failedAt]: over.failedAt ?? '2025-06-01T11:00:00.000Z',
    ...over.extra,
  };
  return {
    topic: 'order.events.dlq',
    partition,
    offset: String(offset),
    key: over.key === null ? null : Buffer.from(over.key ?? 'order-1'),
    value: Buffer.from([0, 0, 0, 0, 7, 1, 2, 3]),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
    timestamp: String(Date.parse('2025-06-01T11:00:00.000Z')),
  };
}

function marker(partition: number, offset: number, of: string, to = 'order.events:2:99'): DlqRecord {
  const headers = {
    [DlqHeaders.redriveOf]: of,
    [DlqHeaders.redriveTo]: to,
    [DlqHeaders.redriveAt]: '2025-06-01T11:30:00.000Z',
    [DlqHeaders.redriveCount]: '1',
  };
  return {
    topic: 'order.events.dlq',
    partition,
    offset: String(offset),
    key: null,
    value: null,
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
    timestamp: '0',
  };
}

const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString() : value);

test('coordinates are <dlqTopic>:<partition>:<offset> of a DLQ topic', (t) => {
  t.deepEqual(parseCoordinates('order.events.dlq:1:42'), { topic: 'order.events.dlq', partition: 1, offset: '42' });
  t.deepEqual(parseCoordinates('order.events.dlq:0:007'), { topic: 'order.events.dlq', partition: 0, offset: '7' });
  for (const bad of [
    'order.events.dlq:1',
    'order.events.dlq:a:1',
    'order.events.dlq:1:-1',
    ':1:2',
    'order.events:1:2',
    '.dlq:1:2',
    'a b.dlq:1:2',
  ]) {
    t.throws(() => parseCoordinates(bad), { instanceOf: UsageError }, bad);
  }
});

test('the command line: list by default, redrive with --all or coordinates, never both', (t) => {
  t.deepEqual(parseDlqArgs([]), { command: 'list', topics: [], json: false });
  t.deepEqual(parseDlqArgs(['list', '--topic', 'order.events.dlq', '--json']), {
    command: 'list',
    topics: ['order.events.dlq'],
    json: true,
  });
  t.deepEqual(parseDlqArgs(['--help']), { command: 'help' });
  t.like(parseDlqArgs(['redrive', '--all', '--topic', 'user.events.dlq', '--topic', 'order.events.dlq']), {
    command: 'redrive',
    all: true,
    topics: ['user.events.dlq', 'order.events.dlq'],
    force: false,
    dryRun: false,
  });
  t.like(parseDlqArgs(['redrive', 'order.events.dlq:0:1', 'product.events.dlq:2:3', '--force', '--json']), {
    command: 'redrive',
    all: false,
    force: true,
    json: true,
    targets: [
      { topic: 'order.events.dlq', partition: 0, offset: '1' },
      { topic: 'product.events.dlq', partition: 2, offset: '3' },
    ],
  });
  const refused = [
    ['redrive'],
    ['redrive', '--all', 'order.events.dlq:0:1'],
    ['redrive', 'order.events.dlq:0:1', '--topic', 'order.events.dlq'],
    ['list', '--all'],
    ['list', 'order.events.dlq'],
    ['list', '--topic', 'order.events'],
    ['replay'],
    ['--bogus'],
  ];
  for (const argv of refused) t.throws(() => parseDlqArgs(argv), { instanceOf: UsageError }, argv.join(' '));
});

test('markers are not messages: they mark the record they name as re-driven', (t) => {
  const entries = foldDlq([marker(1, 5, '1:3'), deadLetter(1, 3), deadLetter(0, 0), marker(2, 9, '2:1')]);
  t.deepEqual(
    entries.map((e) => [e.id, e.redriven]),
    [
      ['order.events.dlq:0:0', false],
      ['order.events.dlq:1:3', true],
    ],
  );
  const [waiting, done] = entries as [(typeof entries)[0], (typeof entries)[0]];
  t.like(waiting, {
    eventType: 'OrderCreated',
    eventId: 'event-0-0',
    key: 'order-1',
    consumerGroup: 'product-service',
    failedAt: '2025-06-01T11:00:00.000Z',
    error: { code: 'ER_CONSTRAINT_FAILED', class: 'permanent' },
    original: { topic: 'order.events', partition: 2, offset: '40' },
  });
  t.deepEqual(done.redrives, [{ marker: 'order.events.dlq:1:5', at: '2025-06-01T11:30:00.000Z', to: 'order.events:2:99', count: 1 }]);
  const listing = formatList(['order.events.dlq', 'user.events.dlq'], entries);
  t.regex(listing, /order\.events\.dlq: 2 message\(s\), 1 waiting/);
  t.regex(listing, /user\.events\.dlq: 0 message/);
  t.regex(listing, /ER_CONSTRAINT_FAILED \(permanent\)/);
});

test('--all re-drives what is not re-driven yet, --force everything; one copy per event', (t) => {
  const entries = foldDlq([
    deadLetter(0, 0, { eventId: 'a' }),
    deadLetter(0, 1, { eventId: 'b', group: 'one' }),
    deadLetter(1, 0, { eventId: 'b', group: 'two' }), // the same event, failed by a second group
    deadLetter(1, 1, { eventId: 'c' }),
    marker(1, 2, '1:1'),
  ]);
  const plan = planRedrive(entries, { all: true, targets: [], force: false, allowOld: false, now });
  t.deepEqual(
    plan.steps.map((s) => s.entries.map((e) => e.id)),
    [['order.events.dlq:0:0'], ['order.events.dlq:0:1', 'order.events.dlq:1:0']],
  );
  t.deepEqual(
    plan.skipped.map((s) => s.id),
    ['order.events.dlq:1:1'],
  );
  t.regex(plan.skipped[0]!.reason, /re-driven already/);
  const forced = planRedrive(entries, { all: true, targets: [], force: true, allowOld: false, now });
  t.is(forced.steps.length, 3);
});

test('chosen coordinates are all or nothing', (t) => {
  const entries = foldDlq([
    deadLetter(0, 0),
    deadLetter(0, 1),
    marker(0, 2, '0:1'),
    deadLetter(0, 3, { failedAt: '2025-05-01T00:00:00.000Z' }),
  ]);
  const at = (...ids: string[]) => ({ all: false, targets: ids.map(parseCoordinates), force: false, allowOld: false, now });
  t.deepEqual(
    planRedrive(entries, at('order.events.dlq:0:0')).steps.map((s) => s.entries[0]!.id),
    ['order.events.dlq:0:0'],
  );
  const unknown = t.throws(() => planRedrive(entries, at('order.events.dlq:0:0', 'order.events.dlq:0:77')), { instanceOf: UsageError });
  t.regex(unknown.message, /order\.events\.dlq:0:77: no dead-lettered message there/);
  t.throws(() => planRedrive(entries, at('order.events.dlq:0:2')), { message: /no dead-lettered message/ }, 'a marker is not a message');
  t.throws(() => planRedrive(entries, at('order.events.dlq:0:1')), { message: /re-driven already/ });
  t.is(planRedrive(entries, { ...at('order.events.dlq:0:1'), force: true }).steps.length, 1);
  t.throws(() => planRedrive(entries, at('order.events.dlq:0:3')), { message: /--allow-old/ }, 'a month old');
  t.is(planRedrive(entries, { ...at('order.events.dlq:0:3'), allowOld: true }).steps.length, 1);
});

test('the re-driven copy has the original key, value and headers, no dlq.* header but where it came from', (t) => {
  const earlier = deadLetter(2, 8, { extra: { [DlqHeaders.redrivenFrom]: 'order.events.dlq:0:1', [DlqHeaders.redriveCount]: '1' } });
  const [entry] = foldDlq([earlier, marker(2, 9, '2:8')]);
  const [step] = planRedrive([entry!], {
    all: false,
    targets: [parseCoordinates('order.events.dlq:2:8')],
    force: true,
    allowOld: false,
    now,
  }).steps;
  t.is(step!.topic, 'order.events');
  const message = step!.message;
  t.deepEqual(message.key, Buffer.from('order-1'));
  t.deepEqual(message.value, earlier.value);
  t.is(message.partition, undefined, 'keyed: the murmur2 partitioner places it, as Connect does');
  const headers = Object.fromEntries(Object.entries(message.headers!).map(([k, v]) => [k, text(v)]));
  t.deepEqual(headers, {
    eventId: 'event-2-8',
    eventType: 'OrderCreated',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    [DlqHeaders.redrivenFrom]: 'order.events.dlq:2:8',
    [DlqHeaders.redrivenAt]: now.toISOString(),
    [DlqHeaders.redriveCount]: '3', // one before this record, one marked on it, this one
  });
  const mark = markerMessage(entry!, { topic: 'order.events', partition: 2, offset: '120' }, now);
  t.is(mark.partition, 2);
  t.is(mark.value, null);
  t.like(Object.fromEntries(Object.entries(mark.headers!).map(([k, v]) => [k, text(v)])), {
    [DlqHeaders.redriveOf]: '2:8',
    [DlqHeaders.redriveTo]: 'order.events:2:120',
    [DlqHeaders.redriveCount]: '3',
  });
});

test('a message without a key goes back to its original partition', (t) => {
  const [entry] = foldDlq([deadLetter(0, 0, { key: null })]);
  const [step] = planRedrive([entry!], { all: true, targets: [], force: false, allowOld: false, now }).steps;
  t.is(step!.message.partition, 2);
  t.is(step!.message.key, null);
});
