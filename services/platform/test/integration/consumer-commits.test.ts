import test from 'ava';
import { randomUUID } from 'node:crypto';
import { IdempotentConsumer } from '../../src/index.js';
import { ensureTopic, eventually, kafkaClient, logger, probeWriter, serviceDatabase, uniqueName } from '../helpers/stack.js';

// Offsets are committed at most once per commitIntervalMs while events flow, what is left is committed
// once the consumer is idle, and a stopping consumer commits what it applied: the next owner starts there.
const aggregateType = uniqueName('probe-commits');
const topic = `${aggregateType}.events`;
const groupId = uniqueName('probe-commits-group');
const kafka = kafkaClient(aggregateType);
const intervalMs = 1500;

const setup = async () => {
  const consumerDb = await serviceDatabase('product');
  const publisherDb = await serviceDatabase('order');
  const { writer, codec } = await probeWriter(aggregateType);
  await ensureTopic(kafka, topic);
  let applied = 0;
  const consumer = new IdempotentConsumer({
    kafka,
    db: consumerDb,
    codec,
    logger,
    groupId,
    topics: [topic],
    commitIntervalMs: intervalMs,
    handlers: { ProbeRecorded: async () => undefined },
    // Counted once the transaction committed, not when the handler ran: a chunk undone by a transient
    // failure (a deadlock with another file's writes) runs its handlers again in a later batch, and a
    // count of handler calls would reach 300 while that retry was still to come.
    onEvent: (_event, outcome) => {
      if (outcome === 'applied') applied++;
    },
  });
  const commits: number[] = [];
  let batches = 0;
  consumer.kafkaConsumer.on(consumer.kafkaConsumer.events.COMMIT_OFFSETS, () => commits.push(Date.now()));
  consumer.kafkaConsumer.on(consumer.kafkaConsumer.events.END_BATCH_PROCESS, () => void batches++);
  await consumer.start();
  return { consumerDb, publisherDb, writer, consumer, commits, batches: () => batches, applied: () => applied };
};
const ready = setup();

test.after.always(async () => {
  const { consumer, consumerDb, publisherDb } = await ready;
  await consumer.stop();
  await consumerDb.destroy();
  await publisherDb.destroy();
});

/** `count` events, one transaction each, `concurrency` at a time: many small batches for the consumer. */
async function publish(count: number, concurrency = 4): Promise<void> {
  const { publisherDb, writer } = await ready;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        const probeId = randomUUID();
        await publisherDb.transaction((trx) =>
          writer.write(trx, { type: 'ProbeRecorded', aggregateId: probeId, payload: { probeId, sequence: 1, note: '' } }),
        );
      }
    }),
  );
}

/** The group's committed offsets and the topic's ends, summed over partitions. */
async function committedAndEnd(): Promise<{ committed: number; end: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = offsets!.partitions.reduce((sum, p) => sum + Math.max(Number(p.offset), 0), 0);
    return { committed, end: ends.reduce((sum, p) => sum + Number(p.high), 0) };
  } finally {
    await admin.disconnect();
  }
}

test.serial('while events flow, offsets are committed at most once per interval, and the rest once idle', async (t) => {
  const { commits, batches, applied } = await ready;
  const before = { commits: commits.length, batches: batches(), applied: applied() };
  const started = Date.now();
  await publish(300);
  await eventually(
    () => applied() - before.applied,
    (n) => n === 300,
  );
  const flowMs = Date.now() - started;
  const flowCommits = commits.length - before.commits;
  const flowBatches = batches() - before.batches;
  t.true(flowBatches > flowCommits, `${flowBatches} batches, ${flowCommits} commits`);
  // One commit per interval, plus the first one and one that may straddle the end.
  t.true(flowCommits <= Math.ceil(flowMs / intervalMs) + 2, `${flowCommits} commits in ${flowMs} ms`);

  // Idle: what the last batches resolved is committed without any new batch.
  const idleSince = batches();
  const { committed, end } = await eventually(committedAndEnd, ({ committed, end }) => committed === end, 4 * intervalMs);
  t.is(committed, end);
  t.is(batches(), idleSince, 'committed by the idle consumer, not by a new batch');
});

test.serial('a stopping consumer commits what it applied, so the next owner starts after it', async (t) => {
  const { consumer, applied, commits } = await ready;
  const before = applied();
  const committedBefore = commits.length;
  await publish(50);
  await eventually(
    () => applied() - before,
    (n) => n === 50,
  );
  // Stopped right after its last batch: whatever the interval had left uncommitted, stop() commits.
  await consumer.stop();
  const { committed, end } = await committedAndEnd();
  t.is(committed, end, 'every applied event committed');
  t.true(commits.length > committedBefore);
});
