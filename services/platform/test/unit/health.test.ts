import test from 'ava';
import { HealthMonitor, createDatabase, databaseCheck, overall, type HealthCheck, type HealthStatus } from '../../src/index.js';

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
