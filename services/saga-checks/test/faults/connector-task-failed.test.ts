import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connectApiFromEnv,
  connectFetch,
  connectorFiles,
  connectorKey,
  readRestarts,
  rootSql,
  settings,
} from '@cdc-outbox-saga/local-stack';
import { databases } from '../helpers/databases.js';
import { waitFor } from '../helpers/discovery.js';
import { burstThrough, openShop, planOrders, stackWhole } from '../helpers/faults.js';

const { dbs } = databases();
const connect = connectApiFromEnv();
// The Debezium account on each of the stack's hosts (connectors connect over TCP to 127.0.0.1).
const debezium = settings.credentials.hosts.map((host) => `'${settings.credentials.debezium.user}'@'${host}'`).join(', ');
const connectors = connectorFiles().map((file) => file.name);

/** Each connector's task states, from Kafka Connect's REST API. */
async function taskStates(): Promise<Record<string, string[]>> {
  const response = await connectFetch(connect, '/connectors?expand=status');
  const body = (await response.json()) as Record<string, { status: { tasks: Array<{ state: string }> } }>;
  return Object.fromEntries(Object.entries(body).map(([name, { status }]) => [name, status.tasks.map((task) => task.state)]));
}

// A Debezium task FAILED for a real cause: the Debezium user loses REPLICATION SLAVE (a DBA's slip) and the
// tasks start again, as they do when a worker restarts or the group rebalances; each start is refused by the
// server and the task goes FAILED. (Cutting the live binlog connections instead is not used: the binlog
// client's keep-alive reconnection sometimes ends in neither a stream nor a failure, a task left RUNNING and
// idle.) Connect never restarts a FAILED task by itself; the stack's supervisor does, with backoff, until the
// grant is back.
test.serial(
  'connector tasks FAILED on a lost grant are restarted by the supervisor once it is back, and every order completes',
  async (t) => {
    await stackWhole();
    t.teardown(() => rootSql(`GRANT REPLICATION SLAVE ON *.* TO ${debezium}`));
    const shop = await openShop();
    let failedAfterMs = 0;
    let backAfterMs = 0;
    let waiting = 0;
    const { finishedMs } = await burstThrough(t, dbs, shop, planOrders(shop, 150), async () => {
      await sleep(1500); // into the burst
      const revokedAt = Date.now();
      await rootSql(`REVOKE REPLICATION SLAVE ON *.* FROM ${debezium}`);
      for (const name of connectors) {
        const response = await connectFetch(connect, `/connectors/${name}/tasks/0/restart`, { method: 'POST' });
        t.true(response.ok, `restart of ${name}'s task answered ${response.status}`);
      }

      // The supervisor sees each FAILED task and asks Connect to restart it (the restart fails again while
      // the grant is missing, which is the series of restarts its policy allows for).
      const restarted = (name: string) => {
        const record = readRestarts(connectorKey(name));
        return record !== undefined && record.restarts > 0 && Date.parse(record.lastFailureAt ?? '') >= revokedAt;
      };
      await waitFor('every connector FAILED and restarted by the supervisor', async () => connectors.every(restarted), Boolean, 180_000);
      failedAfterMs = Date.now() - revokedAt;

      const grantedAt = Date.now();
      await rootSql(`GRANT REPLICATION SLAVE ON *.* TO ${debezium}`);
      await waitFor(
        'the supervisor seeing every connector RUNNING again',
        async () => connectors.map((name) => Date.parse(readRestarts(connectorKey(name))?.lastBackAt ?? '')),
        (back) => back.every((at) => at >= grantedAt),
        120_000,
      );
      const states = await taskStates();
      t.true(
        connectors.every((name) => states[name]!.every((state) => state === 'RUNNING')),
        JSON.stringify(states),
      );
      backAfterMs = Date.now() - grantedAt;
      const [row] = await dbs.order('sagas').whereIn('user_id', shop.userIds).where({ status: 'PENDING' }).count({ n: '*' });
      waiting = Number(row?.n ?? 0);
    });
    t.log(
      `tasks FAILED and restarted ${failedAfterMs} ms after the grant was lost; RUNNING ${backAfterMs} ms after it was back, ${waiting} orders waiting; all completed ${finishedMs} ms after the burst began`,
    );
  },
);
