import test from 'ava';
import { randomUUID } from 'node:crypto';
import { ProcessedEventsCleaner } from '../../src/index.js';
import { logger, serviceDatabase, uniqueName } from '../helpers/stack.js';

test('records older than the retention are deleted in batches, younger ones stay', async (t) => {
  const db = await serviceDatabase('user');
  t.teardown(() => db.destroy());
  const group = uniqueName('cleaner-group');
  const row = (hoursAgo: number) => ({
    consumer_group: group,
    event_id: randomUUID(),
    event_type: 'ProbeRecorded',
    processed_at: db.raw('NOW(6) - INTERVAL ? HOUR', [hoursAgo]),
  });
  await db('processed_events').insert([...Array.from({ length: 7 }, () => row(200)), row(100), row(1)]);

  // A batch of 3 needs three rounds for the 7 expired records; other groups' old rows go too, hence >=.
  const deleted = await new ProcessedEventsCleaner(db, logger, 192, 3).cleanOnce();
  t.true(deleted >= 7);
  const left = await db('processed_events').where({ consumer_group: group }).count({ n: '*' }).first();
  t.is(Number(left?.n), 2);
});
