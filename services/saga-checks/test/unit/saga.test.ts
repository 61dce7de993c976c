import test from 'ava';
import { DlqHeaders, foldDlq, type DlqRecord } from '../../src/dlq.js';
import { UsageError } from '../../src/command-line.js';
import type { DecodedEvent } from '../../src/events.js';
import { parseSagaArgs } from '../../src/saga-args.js';
import { formatStory } from '../../src/saga-format.js';
import { sagaState, type DecisionRow, type SagaFacts } from '../../src/saga-state.js';
import { sagaStory } from '../../src/saga-story.js';

const ORDER = 'f76b15e5-d8e6-4e60-b623-5342cb06eb78';
const t0 = Date.parse('2025-06-01T12:00:00.000Z');
const at = (ms: number) => new Date(t0 + ms);

function event(
  eventType: string,
  ms: number,
  over: { topic?: string; offset?: string; headers?: Record<string, string>; occurredMs?: number } = {},
): DecodedEvent {
  return {
    topic: over.topic ?? `${eventType.startsWith('Order') ? 'order' : eventType.startsWith('Stock') ? 'product' : 'user'}.events`,
    partition: 1,
    offset: over.offset ?? String(ms),
    timestamp: at(ms).toISOString(),
    key: ORDER,
    headers: { eventId: `id-${eventType}`, eventType, ...over.headers },
    eventType,
    value: { orderId: ORDER, occurredAt: t0 + (over.occurredMs ?? ms - 20) },
  };
}

const row = (status: string, createdMs: number, updatedMs = createdMs, reason: string | null = null): DecisionRow => ({
  status,
  reason,
  amount: 20,
  createdAt: at(createdMs),
  updatedAt: at(updatedMs),
});

function facts(
  over: Partial<SagaFacts> & {
    status?: 'PENDING' | 'COMPLETED' | 'CANCELLED';
    reason?: string | null;
    finishedMs?: number;
    nowMs?: number;
  } = {},
): SagaFacts {
  const status = over.status ?? 'PENDING';
  const nowMs = over.nowMs ?? 10_000;
  return {
    saga: {
      orderId: ORDER,
      userId: 'u-1',
      status,
      reason: over.reason ?? null,
      amount: status === 'COMPLETED' ? 20 : null,
      items: [{ productId: 'p-1', quantity: 2 }],
      createdAt: at(0),
      updatedAt: at(over.finishedMs ?? 0),
      finishedAt: status === 'PENDING' ? null : at(over.finishedMs ?? 500),
      ageSeconds: nowMs / 1000,
    },
    reservation: null,
    deduction: null,
    events: [],
    handled: [],
    deadLetters: [],
    deadlineSeconds: 300,
    now: at(nowMs),
    ...over,
  };
}

/** A dead letter of `eventType` by `group`, with a re-drive marker when `redriven`. */
function deadLetters(eventType: string, group: string, redriven: boolean) {
  const h = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)]));
  const records: DlqRecord[] = [
    {
      topic: 'order.events.dlq',
      partition: 1,
      offset: '4',
      key: Buffer.from(ORDER),
      value: Buffer.from([0, 0, 0, 0, 1]),
      timestamp: String(t0 + 300),
      headers: h({
        eventId: `id-${eventType}`,
        eventType,
        [DlqHeaders.consumerGroup]: group,
        [DlqHeaders.errorCode]: 'ER_CONSTRAINT_FAILED',
        [DlqHeaders.errorClass]: 'permanent',
        [DlqHeaders.errorMessage]: 'CONSTRAINT `dlq_test` failed',
        [DlqHeaders.originalTopic]: 'order.events',
        [DlqHeaders.failedAt]: at(300).toISOString(),
      }),
    },
  ];
  if (redriven) {
    records.push({
      topic: 'order.events.dlq',
      partition: 1,
      offset: '5',
      key: null,
      value: null,
      timestamp: String(t0 + 5000),
      headers: h({
        [DlqHeaders.redriveOf]: '1:4',
        [DlqHeaders.redriveTo]: 'order.events:1:9',
        [DlqHeaders.redriveAt]: at(5000).toISOString(),
        [DlqHeaders.redriveCount]: '1',
      }),
    });
  }
  return foldDlq(records);
}

test('a PENDING saga whose OrderCreated is not on its topic waits for the order connector', (t) => {
  const state = sagaState(facts());
  t.like(state, { status: 'PENDING', final: false, seconds: 10, deadline: { seconds: 300, remainingSeconds: 290 } });
  t.like(state.waitingFor, {
    service: 'product',
    on: 'OrderCreated',
    phase: 'connector',
    since: at(0).toISOString(),
    seconds: 10,
    deadLetter: null,
  });
});

test('each step of the saga is found from the decision rows', (t) => {
  const created = [event('OrderCreated', 40)];
  const cases: Array<[Partial<SagaFacts>, string, string]> = [
    [{ events: created }, 'product', 'OrderCreated'],
    [{ events: created, reservation: row('REFUSED', 100, 100, 'OUT_OF_STOCK') }, 'order', 'StockReservationFailed'],
    [{ events: created, reservation: row('RESERVED', 100) }, 'user', 'StockReserved'],
    [{ events: created, reservation: row('RESERVED', 100), deduction: row('DEDUCTED', 200) }, 'order', 'PointsDeducted'],
    [{ events: created, reservation: row('RESERVED', 100), deduction: row('REFUSED', 200) }, 'product', 'PointsDeductionFailed'],
    [{ events: created, reservation: row('RELEASED', 100, 300), deduction: row('REFUSED', 200) }, 'order', 'StockReleased'],
  ];
  for (const [over, service, on] of cases) {
    const { waitingFor, anomalies } = sagaState(facts(over));
    t.like(waitingFor, { service, on }, on);
    t.deepEqual(anomalies, []);
  }
  const waiting = sagaState(facts({ events: [...created, event('StockReserved', 150)], reservation: row('RESERVED', 100) })).waitingFor;
  t.like(waiting, { phase: 'consumer', since: at(150).toISOString(), seconds: 9.9, step: 'deduct the points' });
});

test('a dead letter of the awaited event by the awaiting group, not re-driven, is what blocks the saga', (t) => {
  const events = [event('OrderCreated', 40)];
  const stuck = sagaState(facts({ events, deadLetters: deadLetters('OrderCreated', 'product-service', false) })).waitingFor;
  t.like(stuck, {
    phase: 'consumer',
    deadLetter: { id: 'order.events.dlq:1:4', code: 'ER_CONSTRAINT_FAILED', failedAt: at(300).toISOString() },
  });
  t.is(
    sagaState(facts({ events, deadLetters: deadLetters('OrderCreated', 'product-service', true) })).waitingFor?.deadLetter,
    null,
    're-driven: no longer blocking',
  );
  t.is(
    sagaState(facts({ events, deadLetters: deadLetters('OrderCreated', 'user-service', false) })).waitingFor?.deadLetter,
    null,
    'another group',
  );
});

test('past its deadline, the remaining time is negative', (t) => {
  t.like(sagaState(facts({ nowMs: 312_500 })).deadline, { seconds: 300, remainingSeconds: -12.5 });
});

test('an ended saga is final; a cancelled one still holding stock or points settles', (t) => {
  const completed = sagaState(
    facts({
      status: 'COMPLETED',
      reservation: row('RESERVED', 100),
      deduction: row('DEDUCTED', 200),
      events: [event('OrderCompleted', 520)],
    }),
  );
  t.like(completed, { final: true, seconds: 0.5, deadline: null, waitingFor: null, settling: [], anomalies: [] });

  const timedOut = sagaState(
    facts({ status: 'CANCELLED', reason: 'SAGA_TIMEOUT', reservation: row('RESERVED', 100), events: [event('OrderCancelled', 530)] }),
  );
  t.like(timedOut, { status: 'CANCELLED', reason: 'SAGA_TIMEOUT', final: true });
  t.is(timedOut.settling.length, 1);
  t.like(timedOut.settling[0], { service: 'product', on: 'OrderCancelled', phase: 'consumer' });

  const unpublished = sagaState(facts({ status: 'COMPLETED', reservation: row('RESERVED', 100), deduction: row('DEDUCTED', 200) }));
  t.like(unpublished.settling[0], { service: null, on: 'OrderCompleted', phase: 'connector' });
});

test('rows the saga never makes are reported', (t) => {
  t.regex(sagaState(facts({ reservation: row('CANCELLED', 100) })).anomalies[0] ?? '', /no step of the saga leads here/);
  t.regex(sagaState(facts({ status: 'COMPLETED', reservation: row('RELEASED', 100, 300) })).anomalies[0] ?? '', /COMPLETED, but/);
});

test('the story is in time order, with hops, appliers, both states of a released row, and the dead letters', (t) => {
  const copy = event('OrderCreated', 5100, { offset: '9', occurredMs: 20, headers: { [DlqHeaders.redrivenFrom]: 'order.events.dlq:1:4' } });
  const story = sagaStory(
    facts({
      status: 'CANCELLED',
      reason: 'INSUFFICIENT_POINTS',
      finishedMs: 6000,
      nowMs: 7000,
      reservation: row('RELEASED', 5200, 5800),
      deduction: row('REFUSED', 5400, 5400, 'INSUFFICIENT_POINTS'),
      events: [
        event('OrderCreated', 40),
        copy,
        event('StockReserved', 5250),
        event('PointsDeductionFailed', 5450),
        event('StockReleased', 5850),
        event('OrderCancelled', 6050),
      ],
      handled: [{ group: 'product-service', eventId: 'id-OrderCreated', at: at(5190) }],
      deadLetters: deadLetters('OrderCreated', 'product-service', true),
    }),
  );
  const kinds = story.story.map((e) =>
    e.kind === 'event' ? e.eventType : e.kind === 'decision' || e.kind === 'saga' ? `${e.kind}:${e.status}` : e.kind,
  );
  t.deepEqual(kinds, [
    'saga:PENDING',
    'OrderCreated',
    'dead-letter',
    're-drive',
    'OrderCreated',
    'decision:RESERVED',
    'StockReserved',
    'decision:REFUSED',
    'PointsDeductionFailed',
    'decision:RELEASED',
    'StockReleased',
    'saga:CANCELLED',
    'OrderCancelled',
  ]);
  const [first, again] = story.story.filter((e) => e.kind === 'event' && e.eventType === 'OrderCreated');
  t.like(first, { hopMs: 20, redrivenFrom: null, handledBy: [{ group: 'product-service', at: at(5190).toISOString() }], awaitedBy: [] });
  t.like(again, { hopMs: null, redrivenFrom: 'order.events.dlq:1:4' });
  t.like(
    story.story.find((e) => e.kind === 'event' && e.eventType === 'StockReserved'),
    { awaitedBy: ['user-service'] },
  );
  t.like(
    story.story.find((e) => e.kind === 'dead-letter'),
    { group: 'product-service', code: 'ER_CONSTRAINT_FAILED', redriven: true },
  );
  t.like(story.saga, { status: 'CANCELLED', finishedAt: at(6000).toISOString() });
  t.false('ageSeconds' in story.saga);

  const text = formatStory(story);
  t.regex(
    text,
    /^order f76b15e5-d8e6-4e60-b623-5342cb06eb78: user u-1, 1 line\(s\)\nnow: CANCELLED \(INSUFFICIENT_POINTS\), final; 6\.0 s from placed to ended\n/,
  );
  t.regex(text, /OrderCreated at 1:40; outbox → topic 20 ms; applied by product-service \+5150 ms/);
  t.regex(text, /OrderCreated at 1:9; re-driven copy of order\.events\.dlq:1:4/);
  t.regex(text, /StockReserved at 1:5250; outbox → topic 20 ms; not applied by user-service/);
  t.regex(text, /OrderCreated dead-lettered by product-service as order\.events\.dlq:1:4: ER_CONSTRAINT_FAILED/);
  t.regex(text, /order\.events\.dlq:1:4 re-driven to order\.events:1:9 \(re-drive no\. 1\)/);
  t.regex(text, /reservation RELEASED, amount 20/);
});

test('a stuck saga says what it waits for, what blocks it, and the deadline', (t) => {
  const story = sagaStory(
    facts({ events: [event('OrderCreated', 40)], deadLetters: deadLetters('OrderCreated', 'product-service', false) }),
  );
  const text = formatStory(story);
  t.regex(
    text,
    /now: PENDING for 10\.0 s\n {2}waits for the product service to reserve the stock on OrderCreated \(on its topic since 2025-06-01T12:00:00\.040Z, 10\.0 s\)/,
  );
  t.regex(text, /stuck: product-service dead-lettered OrderCreated \(order\.events\.dlq:1:4\)/);
  t.regex(text, /npm run dlq -- redrive order\.events\.dlq:1:4/);
  t.regex(text, /deadline: 300 s; the order service cancels it \(SAGA_TIMEOUT\) in 290\.0 s/);
});

test('saga takes one order id, lower-cased, and --json / --deadline-seconds', (t) => {
  t.deepEqual(parseSagaArgs([ORDER.toUpperCase()]), { command: 'story', orderId: ORDER, json: false, deadlineSeconds: undefined });
  t.like(parseSagaArgs([ORDER, '--json', '--deadline-seconds', '5']), { json: true, deadlineSeconds: 5 });
  t.deepEqual(parseSagaArgs(['--help']), { command: 'help' });
  for (const argv of [[], [ORDER, ORDER], ['order-1'], [ORDER, '--deadline-seconds', '5s'], [ORDER, '--follow']]) {
    t.throws(() => parseSagaArgs(argv), { instanceOf: UsageError }, argv.join(' '));
  }
});
