import test from 'ava';
import { UsageError } from '../../src/command-line.js';
import { DEFAULT_TOPICS, parseDuration, parseEventsArgs, parseSince } from '../../src/events-args.js';
import { columnsFor, eventJson, eventJsonLine, formatEvent, formatHeader } from '../../src/events-format.js';
import { compareEvents, type DecodedEvent } from '../../src/events.js';

const now = new Date('2025-06-01T12:00:00.000Z');
const types = ['OrderCreated', 'StockReserved', 'StockReservationFailed'];
const parse = (...argv: string[]) => parseEventsArgs(argv, now, types);

test('a duration is a sum of amounts with units; a bare number is not one', (t) => {
  t.is(parseDuration('90s'), 90_000);
  t.is(parseDuration('10m'), 600_000);
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration('1.5h'), 5_400_000);
  t.is(parseDuration('2d'), 172_800_000);
  t.is(parseDuration('250ms'), 250);
  for (const text of ['10', 'm', '5x', '1h 30m', '-5m', '']) t.is(parseDuration(text), undefined, text);
});

test('--since is a duration back from now, or an ISO time read as UTC without an offset', (t) => {
  t.is(parseSince('10m', now), Date.parse('2025-06-01T11:50:00.000Z'));
  t.is(parseSince('2025-06-01T11:00:00Z', now), Date.parse('2025-06-01T11:00:00.000Z'));
  t.is(parseSince('2025-06-01T11:00:00', now), Date.parse('2025-06-01T11:00:00.000Z'), 'no offset: UTC, whatever the machine zone');
  t.is(parseSince('2025-06-01T13:00:00+02:00', now), Date.parse('2025-06-01T11:00:00.000Z'));
  t.is(parseSince('2025-06-01 11:30', now), Date.parse('2025-06-01T11:30:00.000Z'));
  t.is(parseSince('2025-05-31', now), Date.parse('2025-05-31T00:00:00.000Z'));
  t.throws(() => parseSince('2025-06-01T13:00:00Z', now), { instanceOf: UsageError, message: /in the future/ });
  t.throws(() => parseSince('yesterday', now), { instanceOf: UsageError, message: /not a duration/ });
  t.throws(() => parseSince('2025-13-45', now), { instanceOf: UsageError, message: /not a valid time/ });
});

test('by default: the three topics, only new events, followed', (t) => {
  t.deepEqual(parse(), {
    command: 'read',
    topics: DEFAULT_TOPICS,
    order: null,
    type: null,
    start: { from: 'end' },
    follow: true,
    limit: null,
    json: false,
  });
});

test('--from-beginning and --since read to the ends and stop, unless --follow', (t) => {
  t.like(parse('--from-beginning'), { start: { from: 'beginning' }, follow: false });
  t.like(parse('--since', '5m'), { start: { from: 'time', at: Date.parse('2025-06-01T11:55:00.000Z') }, follow: false });
  t.like(parse('--since', '5m', '--follow'), { follow: true });
});

test('filters and limits are read and checked', (t) => {
  t.like(parse('--topic', 'order.events', '--topic', 'order.events', '--topic', 'order.events.dlq'), {
    topics: ['order.events', 'order.events.dlq'],
  });
  t.like(
    parse('--order', 'F76B15E5-D8E6-4E60-B623-5342CB06EB78'),
    { order: 'f76b15e5-d8e6-4e60-b623-5342cb06eb78' },
    'ids are lower case, as stored',
  );
  t.like(parse('--type', 'StockReserved', '--limit', '3', '--json'), { type: 'StockReserved', limit: 3, json: true });
  t.like(parseEventsArgs(['--type', 'Anything'], now), { type: 'Anything' }, 'without the known types, any type is taken');
  t.deepEqual(parse('--help'), { command: 'help' });
});

test('a bad option is a usage error', (t) => {
  t.throws(() => parseEventsArgs(['--bogus'], now, types), { instanceOf: UsageError, message: /Unknown option/ });
  t.throws(() => parseEventsArgs(['order.events'], now, types), { instanceOf: UsageError, message: /positional/ });
  t.throws(() => parseEventsArgs(['--from-beginning', '--since', '5m'], now, types), {
    instanceOf: UsageError,
    message: /exclude each other/,
  });
  t.throws(() => parseEventsArgs(['--limit', '0'], now, types), { instanceOf: UsageError, message: /positive whole number/ });
  t.throws(() => parseEventsArgs(['--limit', '-3'], now, types), { instanceOf: UsageError, message: /./ });
  t.throws(() => parseEventsArgs(['--limit', 'ten'], now, types), { instanceOf: UsageError, message: /positive whole number/ });
  t.throws(() => parseEventsArgs(['--order', 'order-1'], now, types), { instanceOf: UsageError, message: /not a UUID/ });
  t.throws(() => parseEventsArgs(['--type', 'OrderShipped'], now, types), { instanceOf: UsageError, message: /no such event type/ });
  t.throws(() => parseEventsArgs(['--topic', 'no/such'], now, types), { instanceOf: UsageError, message: /not a topic name/ });
  t.throws(() => parseEventsArgs(['--since'], now, types), { instanceOf: UsageError, message: /argument missing/ });
});

function event(over: Partial<DecodedEvent> = {}): DecodedEvent {
  return {
    topic: 'product.events',
    partition: 2,
    offset: '17',
    timestamp: '2025-06-01T11:00:00.123Z',
    key: 'f76b15e5-d8e6-4e60-b623-5342cb06eb78',
    headers: { eventId: 'e-1', eventType: 'StockReserved' },
    eventType: 'StockReserved',
    value: { orderId: 'f76b15e5-d8e6-4e60-b623-5342cb06eb78', amount: 20 },
    ...over,
  };
}

test('--json prints one object per line with the record, its headers and its decoded value', (t) => {
  const line = eventJsonLine(event());
  t.false(line.includes('\n'));
  const parsed = JSON.parse(line);
  t.deepEqual(Object.keys(parsed), ['topic', 'partition', 'offset', 'timestamp', 'key', 'headers', 'eventType', 'value']);
  t.like(parsed, { topic: 'product.events', partition: 2, offset: '17', eventType: 'StockReserved', value: { amount: 20 } });
  t.like(eventJson(event({ value: null, decodeError: 'schema id 9: unknown' })), { value: null, decodeError: 'schema id 9: unknown' });
});

test('the readable lines keep their columns under the header, whatever the topic', (t) => {
  const columns = columnsFor(['order.events', 'product.events'], types);
  const header = formatHeader(columns);
  const lines = [event(), event({ topic: 'order.events', partition: 0, offset: '3', eventType: 'OrderCreated' })].map((e) =>
    formatEvent(e, columns),
  );
  for (const title of ['TOPIC', 'P:OFFSET', 'KEY', 'EVENT TYPE', 'VALUE']) {
    const at = header.indexOf(title);
    for (const line of lines) t.true(line[at - 1] === ' ' && line[at] !== ' ', `${title} starts a column in ${line}`);
  }
  t.true(lines[0]!.endsWith('{"orderId":"f76b15e5-d8e6-4e60-b623-5342cb06eb78","amount":20}'));
  t.regex(formatEvent(event({ value: null, decodeError: 'not Avro' }), columns), /\(not decoded: not Avro\)$/);
  t.regex(formatEvent(event({ key: null, eventType: null }), columns), / - +\? +/);
});

test('records sort by timestamp, then topic, partition and offset', (t) => {
  const a = event({ timestamp: '2025-06-01T11:00:00.100Z', topic: 'user.events' });
  const b = event({ timestamp: '2025-06-01T11:00:00.100Z', topic: 'order.events', offset: '9' });
  const c = event({ timestamp: '2025-06-01T11:00:00.100Z', topic: 'order.events', offset: '10' });
  const d = event({ timestamp: '2025-06-01T10:59:59.999Z' });
  t.deepEqual([a, b, c, d].sort(compareEvents), [d, b, c, a]);
});
