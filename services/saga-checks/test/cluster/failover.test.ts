import test, { type ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connectApiFromEnv,
  connectFetch,
  connectWorkers,
  kafkaNodes,
  killHeldDown,
  recordedPid,
  settings,
  startComponents,
  type ConnectApi,
} from '@cdc-outbox-saga/local-stack';
import type { SagaDatabases } from '../../src/databases.js';
import { paced } from '../helpers/burst.js';
import { databases } from '../helpers/databases.js';
import { waitFor } from '../helpers/discovery.js';
import { burstThrough, openShop, planOrders, stackWhole } from '../helpers/faults.js';
import { kafka, readBetween, sagaTopics, topicEnds, type Offsets } from '../helpers/topics.js';

const { dbs } = databases();

/** The load of the measurement: 30 orders a second through the gateway, for 40 s. */
const perSecond = 30;
const seconds = 40;
/** How far into the load the node is killed. */
const killAfterMs = 10_000;

test.before(() => {
  const { kafkaBrokers, connectWorkers: workers } = settings.cluster;
  if (kafkaBrokers < 3 || workers < 2) {
    throw new Error(
      `the cluster tests need STACK_KAFKA_BROKERS=3 and STACK_CONNECT_WORKERS=2 (have ${kafkaBrokers} and ${workers}): npm run test:cluster`,
    );
  }
});

/**
 * The longest time between two consecutive completions among these orders (their sagas' finished_at),
 * in ms: how long the stack stood still while a node was gone.
 */
async function longestGapMs(db: SagaDatabases, ids: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .order('sagas')
      .whereIn('order_id', ids.slice(i, i + 500))
      .select<{ finished_at: Date }[]>('finished_at');
    times.push(...rows.map((row) => new Date(row.finished_at).getTime()));
  }
  times.sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}

/**
 * The events published on the saga topics between two sets of offsets, and how many of them repeat an
 * eventId already published: what a consumer that does not dedupe (another team's) would see twice.
 */
async function duplicatesBetween(from: Offsets, to: Offsets): Promise<{ events: number; duplicates: number }> {
  const events = await readBetween(from, to, 120_000);
  return { events: events.length, duplicates: events.length - new Set(events.map((event) => event.eventId)).size };
}

/** Every partition of every topic, by its in-sync replica count: `topic/partition` → ISR size. */
async function inSyncReplicas(): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata();
    return new Map(topics.flatMap((topic) => topic.partitions.map((p) => [`${topic.name}/${p.partitionId}`, p.isr.length] as const)));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Puts the load on and SIGKILLs the component `name` `killAfterMs` into it, the supervisor told to leave it
 * down; burstThrough checks every accepted order completed on what was left (stock, points, audit, DLQs).
 * Then `whileDown` runs (the node still dead), the figures are logged under `label`, and the node is started
 * again whatever happened, so that the next test begins with the whole cluster.
 */
async function loadWithNodeDown(
  t: ExecutionContext,
  name: string,
  label: string,
  whileDown: () => Promise<void> = async () => undefined,
): Promise<void> {
  const shop = await openShop();
  const before = await topicEnds();
  let owner: string | undefined;
  try {
    const { accepted, finishedMs } = await burstThrough(
      t,
      dbs,
      shop,
      planOrders(shop, perSecond * seconds),
      async () => {
        await sleep(killAfterMs); // into the load
        owner = await killHeldDown(name);
      },
      (plan) => paced(plan, perSecond),
    );
    t.is(recordedPid(name), undefined, `${name} still down: the orders completed without it`);
    const gapMs = await longestGapMs(dbs, accepted);
    const { events, duplicates } = await duplicatesBetween(before, await topicEnds());
    await whileDown();
    t.log(
      `${label} SIGKILLed ${killAfterMs} ms into ${perSecond} orders/s; all ${accepted.length} completed ${finishedMs} ms after the load ` +
        `began; longest gap between two completed orders ${gapMs} ms; ${events} events published, ${duplicates} of them duplicates`,
    );
  } finally {
    if (owner !== undefined) await startComponents([name], new Map([[name, owner]]));
  }
}

test.serial(
  'a broker SIGKILLed mid-load and left down: every order completes on the other two, then it rejoins and the ISR is 3 again',
  async (t) => {
    await stackWhole();
    const isr = await inSyncReplicas();
    t.true(
      [...isr.values()].every((n) => n === 3),
      'every partition has three in-sync replicas before the kill',
    );

    // The node leading the most partitions of the saga topics: its death moves the most leaders.
    const admin = kafka.admin();
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: sagaTopics });
    await admin.disconnect();
    const leads = new Map<number, number>();
    for (const topic of topics)
      for (const partition of topic.partitions) leads.set(partition.leader, (leads.get(partition.leader) ?? 0) + 1);
    const victimId = [...leads].sort((a, b) => b[1] - a[1])[0]![0];
    const victim = kafkaNodes().find((node) => node.id === victimId)!;

    await loadWithNodeDown(
      t,
      victim.name,
      `${victim.name} (node ${victim.id}, leader of ${leads.get(victimId)} of the saga topics' partitions)`,
    );
    const rejoinedMs = await waitFor(
      `every partition with three in-sync replicas again after ${victim.name} came back`,
      inSyncReplicas,
      (replicas) => [...replicas.values()].every((n) => n === 3),
      120_000,
    );
    t.log(`${victim.name} back: every partition has three in-sync replicas ${rejoinedMs} ms after it answered`);
  },
);

/** The stack's Connect workers' group (group.id in compose/local/src/components/connect.ts). */
const connectGroup = 'cdc-outbox-saga-connect';

/** Connect's REST API on one worker: any worker answers for the group. */
const workerApi = (port: number): ConnectApi => ({ ...connectApiFromEnv(), url: `http://${settings.host}:${port}` });

/** Where a part of a connector runs: Connect's status names the worker by its advertised host:port. */
interface Placed {
  state: string;
  worker_id: string;
}

async function outboxStatus(api: ConnectApi): Promise<{ connector: Placed; tasks: Placed[] }> {
  const answer = await connectFetch(api, '/connectors/outbox/status', { signal: AbortSignal.timeout(5000) });
  if (!answer.ok) throw new Error(`connector status answered ${answer.status}`);
  return (await answer.json()) as { connector: Placed; tasks: Placed[] };
}

test.serial(
  'the Connect worker running the outbox task SIGKILLed mid-load and left down: the task moves, every order completes, then the worker rejoins the group',
  async (t) => {
    await stackWhole();
    const workers = connectWorkers();
    const first = await outboxStatus(workerApi(workers[0]!.port));
    t.is(first.tasks[0]?.state, 'RUNNING');
    const victim = workers.find((worker) => first.tasks[0]!.worker_id.endsWith(`:${worker.port}`));
    if (victim === undefined) throw new Error(`the task runs on ${first.tasks[0]!.worker_id}, no worker of the stack`);
    const survivor = workers.find((worker) => worker !== victim)!;

    await loadWithNodeDown(t, victim.name, `${victim.name} (running the outbox task)`, async () => {
      const moved = await outboxStatus(workerApi(survivor.port));
      t.is(moved.tasks[0]?.state, 'RUNNING');
      t.true(moved.tasks[0]!.worker_id.endsWith(`:${survivor.port}`), `the task runs on ${survivor.name} (${moved.tasks[0]!.worker_id})`);
    });

    // Back in the group: both workers members of it again, the connector and its task RUNNING. Nothing moves
    // back to the returning worker: Connect balances connectors and tasks each on their own, and one
    // connector and one task on the survivor are balanced already; the returned worker stands by.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const rejoinedMs = await waitFor(
        `${victim.name} back in Connect's group`,
        async () => (await admin.describeGroups([connectGroup])).groups[0],
        (group) => group?.state === 'Stable' && group.members.length === workers.length,
        120_000,
      );
      const status = await outboxStatus(workerApi(victim.port));
      t.deepEqual(
        [status.connector.state, ...status.tasks.map((task) => task.state)],
        ['RUNNING', 'RUNNING'],
        'the connector and its task RUNNING, as the returned worker reports them',
      );
      t.log(
        `${victim.name} back in the group of ${workers.length} workers ${rejoinedMs} ms after it answered; ` +
          `connector on ${status.connector.worker_id}, task on ${status.tasks[0]!.worker_id}`,
      );
    } finally {
      await admin.disconnect();
    }
  },
);
