import test from 'ava';
import { EventEmitter } from 'node:events';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import {
  HealthMonitor,
  consumerCheck,
  createDatabase,
  databaseCheck,
  overall,
  type HealthCheck,
  type HealthStatus,
} from '../../src/index.js';

test('the overall status is DOWN if any check is, STARTING while any starts, UP when all are', (t) => {
  t.is(overall({ a: { status: 'UP' }, b: { status: 'UP' } }), 'UP');
  t.is(overall({ a: { status: 'UP' }, b: { status: 'STARTING' } }), 'STARTING');
  t.is(overall({ a: { status: 'STARTING' }, b: { status: 'DOWN' } }), 'DOWN');
});

test('a database that cannot be reached makes the check DOWN with the reason', async (t) => {
  // A real MySQL client against a port where nothing listens.
  const db = createDatabase({ host: '127.0.0.1', port: 9, user: 'x', password: 'x', database: 'x', pool: { min: 0, max: 1 } });
  t.teardown(() => db.destroy());
  const result = await databaseCheck(db, 1000).check();
  t.is(result.status, 'DOWN');
  t.regex(result.reason ?? '', /ECONNREFUSED|connect/i);
});

test('the monitor reports every change of the overall status, and only changes', async (t) => {
  let state: HealthStatus = 'STARTING';
  const check: HealthCheck = { name: 'consumer', check: () => ({ status: state }) };
  const changes: string[] = [];
  const monitor = new HealthMonitor([check], 60_000, (report, previous) => changes.push(`${previous}->${report.status}`));
  await monitor.refresh();
  state = 'UP';
  await monitor.refresh();
  await monitor.refresh();
  state = 'DOWN';
  t.is((await monitor.refresh()).status, 'DOWN');
  t.deepEqual(changes, ['STARTING->UP', 'UP->DOWN']);
  t.deepEqual(monitor.current.checks, { consumer: { status: 'DOWN' } });
});

/**
 * What consumerCheck listens to: a kafkajs consumer's `on` and `events`. The event names are a real
 * consumer's; the events are sent in the order kafkajs sends them (a crash: STOP, then CRASH).
 */
function consumerEvents() {
  const { events } = new Kafka({ brokers: ['127.0.0.1:9'], logLevel: logLevel.NOTHING }).consumer({ groupId: 'health-test' });
  const emitter = new EventEmitter();
  const consumer = { events, on: (name: string, listener: (event: unknown) => void) => emitter.on(name, listener) } as unknown as Consumer;
  return { consumer, events, send: (name: string, payload: unknown = {}) => emitter.emit(name, { payload }) };
}

test('a consumer kafkajs restarts after a crash stays UP for the grace period, then DOWN; a rejoin ends it', (t) => {
  const { consumer, events, send } = consumerEvents();
  let now = 1_000_000;
  const check = consumerCheck(consumer, { restartGraceMs: 30_000, stoppedOnPurpose: () => false, now: () => now });
  t.is(check.check().status, 'STARTING');
  send(events.GROUP_JOIN);
  t.deepEqual(check.check(), { status: 'UP' });

  send(events.STOP); // kafkajs stops a crashing consumer first
  send(events.CRASH, { error: new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9192'), restart: true });
  now += 29_000;
  const during = check.check();
  t.is(during.status, 'UP');
  t.regex(during.reason ?? '', /crashed 29\.0 s ago and is restarting.*ECONNREFUSED/);
  now += 1_000;
  t.is(check.check().status, 'DOWN', 'not back within the grace period');

  send(events.GROUP_JOIN);
  t.deepEqual(check.check(), { status: 'UP' });
});

test('a consumer stopped on purpose, or crashed on an error kafkajs does not retry, is DOWN at once', (t) => {
  const stopped = consumerEvents();
  let onPurpose = false;
  const stoppedCheck = consumerCheck(stopped.consumer, { restartGraceMs: 30_000, stoppedOnPurpose: () => onPurpose });
  stopped.send(stopped.events.GROUP_JOIN);
  onPurpose = true;
  stopped.send(stopped.events.STOP);
  t.deepEqual(stoppedCheck.check(), { status: 'DOWN', reason: 'consumer stopped' });

  const crashed = consumerEvents();
  const crashedCheck = consumerCheck(crashed.consumer, { restartGraceMs: 30_000, stoppedOnPurpose: () => false });
  crashed.send(crashed.events.GROUP_JOIN);
  crashed.send(crashed.events.STOP);
  crashed.send(crashed.events.CRASH, { error: new Error('Topic authorization failed'), restart: false });
  t.deepEqual(crashedCheck.check(), { status: 'DOWN', reason: 'consumer crashed: Topic authorization failed' });
});
