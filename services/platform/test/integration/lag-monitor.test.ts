import test from 'ava';
import { Registry } from 'prom-client';
import { ConsumerMonitor } from '../../src/index.js';
import { ensureTopic, kafkaClient, logger, uniqueName } from '../helpers/stack.js';

const topic = `${uniqueName('probe-lag')}.events`;
const dlq = `${topic}.dlq`;
const groupId = uniqueName('probe-lag-group');
const kafka = kafkaClient(groupId);

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>;
  return values.find((v) => Object.entries(labels).every(([key, wanted]) => v.labels[key] === wanted))?.value;
}

test('lag per partition and waiting dead letters come from Kafka, with no consumer of the group running at all', async (t) => {
  await ensureTopic(kafka, topic);
  await ensureTopic(kafka, dlq);
  const producer = kafka.producer();
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  try {
    await producer.send({ topic, messages: [0, 1, 2, 3, 4].map((n) => ({ partition: 0, value: `m${n}` })) });
    await producer.send({ topic, messages: [0, 1].map((n) => ({ partition: 1, value: `m${n}` })) });
    // The group read partition 0 up to offset 3 and stopped: nothing of it runs any more.
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] });
    const failed = (group: string) => ({ 'dlq.consumer.group': group, 'dlq.original.topic': topic });
    await producer.send({
      topic: dlq,
      messages: [
        { partition: 0, value: 'a', headers: failed(groupId) },
        { partition: 0, value: 'b', headers: failed(groupId) },
        { partition: 0, value: 'c', headers: failed('another-group') },
        // The DLQ tool's marker for a re-drive of the first one.
        { partition: 0, value: null, headers: { 'dlq.redrive.of': '0:0' } },
      ],
    });

    const registry = new Registry();
    const monitor = new ConsumerMonitor({ kafka, groupId, topics: [topic], registry, logger });
    try {
      await monitor.poll();
    } finally {
      await monitor.stop();
    }
    const lag = (partition: number) =>
      value(registry, 'kafka_consumergroup_lag', { consumergroup: groupId, topic, partition: String(partition) });
    t.is(await lag(0), 2, 'read to 3 of 5');
    t.is(await lag(1), 2, 'nothing committed: everything there');
    t.is(await lag(2), 0);
    t.is(await value(registry, 'kafka_consumergroup_current_offset', { consumergroup: groupId, topic, partition: '0' }), 3);
    t.is(await value(registry, 'saga_dlq_messages', { consumergroup: groupId, topic: dlq }), 1, 'two of its own, one re-driven');
  } finally {
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic, dlq] }).catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
});
