import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootSql } from '@cdc-outbox-saga/local-stack';
import { databases } from '../helpers/databases.js';
import { burstThrough, openShop, planOrders } from '../helpers/faults.js';

const { dbs } = databases();

test.after.always(async () => {
  await rootSql('SET GLOBAL read_only = OFF');
});

// A failover makes the primary read-only for a moment (MariaDB 1290/1836 on every write). Requests that
// fail are retried by the client with their Idempotency-Key; consumers retry their partition.
test.serial('a database read-only for a few seconds during a burst: no DLQ, every saga completes', async (t) => {
  const shop = await openShop();
  const plan = planOrders(shop, 300);
  await burstThrough(t, dbs, shop, plan, async () => {
    // Let the burst get going, then hold the server read-only for 5 s: how long a failover takes.
    await sleep(1500);
    await rootSql('SET GLOBAL read_only = ON');
    await sleep(5000);
    await rootSql('SET GLOBAL read_only = OFF');
  });
});
