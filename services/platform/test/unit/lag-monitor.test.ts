import test from 'ava';
import type { IHeaders, Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { ConsumerMonitor, partitionLag } from '../../src/consumer/lag-monitor.js';
import { waitingDeadLetters, type DeadLetterRecord } from '../../src/consumer/dead-letters.js';
import { createLogger } from '../../src/logger.js';

test('lag is what the group has still to read: from its commit, or from the partition start before one', (t) => {
  t.is(partitionLag({ committed: '7', low: '0', high: '10' }), 3);
  t.is(partitionLag({ committed: '10', low: '0', high: '10' }), 0);
  t.is(partitionLag({ committed: '-1', low: '4', high: '10' }), 6, 'nothing committed: the consumer starts at the beginning');
  t.is(partitionLag({ committed: '2', low: '4', high: '10' }), 6, 'a commit the retention passed counts from what is left');
  t.is(partitionLag({ committed: '-1', low: '0', high: '0' }), 0);
});

const record = (partition: number, offset: number, headers: IHeaders, topic = 'order.events.dlq'): DeadLetterRecord => ({
  topic,
  partition,
  offset: String(offset),
  headers,
});
const failed = (group: string) => ({ 'dlq.consumer.group': Buffer.from(group), eventType: Buffer.from('OrderCreated') });
const marker = (of: string) => ({ 'dlq.redrive.of': Buffer.from(of) });

test("waiting dead letters: a group's own records that no marker names, per DLQ topic, 0 for an empty one", (t) => {
  const records = [
    record(0, 0, failed('product-service')),
    record(0, 1, failed('product-service')),
    record(0, 2, failed('user-service')),
    record(0, 3, marker('0:0')),
    // A re-driven copy that failed again is a record of its own, waiting again.
    record(1, 0, { ...failed('product-service'), 'dlq.redriven.from': Buffer.from('order.events.dlq:0:0') }),
    // A marker names a record of its own topic only.
    record(0, 0, marker('0:1'), 'user.events.dlq'),
  ];
  const waiting = waitingDeadLetters(records, 'product-service', ['order.events.dlq', 'user.events.dlq']);
  t.deepEqual(
    [...waiting],
    [
      ['order.events.dlq', 2],
      ['user.events.dlq', 0],
    ],
  );
  t.deepEqual([...waitingDeadLetters(records, 'user-service', ['order.events.dlq'])], [['order.events.dlq', 1]]);
});

/** Kafka as the monitor sees it: offsets, watermarks and DLQ records the test changes between rounds. */
function fakeKafka() {
  const state = {
    committed: new Map<string, string>([['order.events:0', '5']]),
    high: new Map<string, string>([
      ['order.events:0', '8'],
      ['order.events:1', '3'],
      ['order.events.dlq:0', '0'],
      ['order.events.dlq:1', '0'],
    ]),
    dlq: [] as Array<{ partition: number; offset: string; headers: IHeaders }>,
    down: false,
    reads: 0,
    deletedGroups: [] as string[],
  };
  const partitionsOf = (topic: string) =>
    [...state.high]
      .filter(([key]) => key.startsWith(`${topic}:`))
      .map(([key, high]) => ({ partition: Number(key.split(':').at(-1)), low: '0', high, offset: high }));
  const kafka = {
    admin: () => ({
      connect: async () => {
        if (state.down) throw new Error('connection refused');
      },
      disconnect: async () => undefined,
      fetchOffsets: async ({ topics }: { topics: string[] }) => {
        if (state.down) throw new Error('connection refused');
        return topics.map((topic) => ({
          topic,
          partitions: partitionsOf(topic).map(({ partition }) => ({
            partition,
            offset: state.committed.get(`${topic}:${partition}`) ?? '-1',
          })),
        }));
      },
      fetchTopicOffsets: async (topic: string) => {
        if (state.down) throw new Error('connection refused');
        return partitionsOf(topic);
      },
      deleteGroups: async (groups: string[]) => void state.deletedGroups.push(...groups),
    }),
    consumer: () => ({
      events: { CRASH: 'crash' },
      on: () => undefined,
      connect: async () => undefined,
      disconnect: async () => undefined,
      subscribe: async () => undefined,
      run: async ({ eachMessage }: { eachMessage: (payload: unknown) => Promise<void> }) => {
        state.reads += 1;
        for (const { partition, offset, headers } of state.dlq) {
          await eachMessage({ topic: 'order.events.dlq', partition, message: { offset, headers } });
        }
      },
    }),
  };
  return { state, kafka: kafka as unknown as Kafka };
}

async function values(registry: Registry, name: string): Promise<Array<[Record<string, string | number>, number]>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return ((metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>).map((v) => [v.labels, v.value]);
}

test('a round reports lag and commits per partition and the waiting DLQ messages; Kafka down keeps the last values', async (t) => {
  const { state, kafka } = fakeKafka();
  const registry = new Registry();
  const monitor = new ConsumerMonitor({
    kafka,
    groupId: 'product-service',
    topics: ['order.events'],
    registry,
    logger: createLogger('test', 'silent'),
  });
  await monitor.poll();
  t.deepEqual(await values(registry, 'kafka_consumergroup_lag'), [
    [{ consumergroup: 'product-service', topic: 'order.events', partition: '0' }, 3],
    [{ consumergroup: 'product-service', topic: 'order.events', partition: '1' }, 3],
  ]);
  t.deepEqual(await values(registry, 'kafka_consumergroup_current_offset'), [
    [{ consumergroup: 'product-service', topic: 'order.events', partition: '0' }, 5],
  ]);
  t.deepEqual(await values(registry, 'saga_dlq_messages'), [[{ consumergroup: 'product-service', topic: 'order.events.dlq' }, 0]]);
  t.is(state.reads, 0, 'empty DLQ partitions are not read');

  // Two messages dead-lettered, one of them re-driven since: one waits.
  state.dlq = [
    { partition: 1, offset: '0', headers: failed('product-service') },
    { partition: 1, offset: '1', headers: failed('product-service') },
    { partition: 1, offset: '2', headers: marker('1:0') },
  ];
  state.high.set('order.events.dlq:1', '3');
  state.committed.set('order.events:1', '3');
  await monitor.poll();
  t.deepEqual(await values(registry, 'saga_dlq_messages'), [[{ consumergroup: 'product-service', topic: 'order.events.dlq' }, 1]]);
  t.is((await values(registry, 'kafka_consumergroup_lag'))[1]?.[1], 0);
  t.is(state.reads, 1);
  t.is(state.deletedGroups.length, 1, 'the throw-away reader group is deleted');

  await monitor.poll();
  t.is(state.reads, 1, 'watermarks unchanged: the DLQ is not read again');

  state.down = true;
  await monitor.poll();
  t.is((await values(registry, 'kafka_consumergroup_lag'))[0]?.[1], 3, 'the last values stay while Kafka cannot be read');
  t.deepEqual(await values(registry, 'saga_dlq_messages'), [[{ consumergroup: 'product-service', topic: 'order.events.dlq' }, 1]]);
  await monitor.stop();
});
