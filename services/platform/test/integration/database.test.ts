import test from 'ava';
import { serviceDatabase } from '../helpers/stack.js';

const ready = serviceDatabase('user', 2);
test.after.always(async () => (await ready).destroy());

test('every session runs in UTC, whatever zone the database server or this process is in', async (t) => {
  const db = await ready;
  // Two statements on what may be two pooled connections: each must have been set up the same way.
  for (let i = 0; i < 3; i++) {
    const [rows] = (await db.raw('select @@session.time_zone as zone, now(6) as now')) as unknown as [Array<{ zone: string; now: Date }>];
    t.is(rows[0]!.zone, '+00:00');
    // NOW() in the session's zone, read back by a driver that takes DATETIME as UTC: they agree only in UTC.
    t.true(Math.abs(rows[0]!.now.getTime() - Date.now()) < 5000, `now() read back as ${rows[0]!.now.toISOString()}`);
  }
});
