import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { readRestarts, recordedPid } from '@cdc-outbox-saga/local-stack';
import { databases } from '../helpers/databases.js';
import { waitFor } from '../helpers/discovery.js';
import { burstThrough, openShop, planOrders, stackWhole } from '../helpers/faults.js';

const { dbs } = databases();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * SIGKILLs a component of the running stack and waits until the stack's supervisor has started it
 * again and it answers its readiness check (the supervisor's restart record says when). No test
 * restarts it by hand.
 */
async function killAndAwaitRestart(name: string): Promise<number> {
  const pid = recordedPid(name);
  if (pid === undefined || !alive(pid)) throw new Error(`${name} is not running under the stack`);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  await waitFor(
    `${name} restarted by the supervisor and ready`,
    async () => readRestarts(name)?.lastBackAt,
    (back) => back !== undefined && Date.parse(back) >= killedAt,
    180_000,
  );
  return Date.parse(readRestarts(name)!.lastBackAt!) - killedAt;
}

// Each component SIGKILLed in the middle of a burst of 300 orders; the clients retry a 5xx or a
// refused connection with the same Idempotency-Key.
for (const name of ['connect', 'kafka', 'mariadb', 'registry', 'order-1', 'gateway']) {
  test.serial(`${name} SIGKILLed mid-burst comes back by itself, and every order completes exactly once`, async (t) => {
    await stackWhole(); // whatever the test before did to it
    const shop = await openShop();
    let backAfterMs = 0;
    let waiting = 0;
    const { finishedMs } = await burstThrough(t, dbs, shop, planOrders(shop, 300), async () => {
      await sleep(1500); // into the burst
      backAfterMs = await killAndAwaitRestart(name);
      // Orders accepted and not finished when the component was back: the ones the fault held up.
      const [row] = await dbs.order('sagas').whereIn('user_id', shop.userIds).where({ status: 'PENDING' }).count({ n: '*' });
      waiting = Number(row?.n ?? 0);
    });
    t.log(
      `${name}: back ${backAfterMs} ms after the kill with ${waiting} orders waiting; all completed ${finishedMs} ms after the burst began`,
    );
  });
}
