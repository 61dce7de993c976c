import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { nextChunkSize, PartitionBackoff } from '../../src/consumer/partition-backoff.js';

type Paused = Array<{ topic: string; partitions: number[] }>;

/** A consumer that only records what was paused and resumed. */
function fakeConsumer() {
  const calls: Array<['pause' | 'resume', Paused]> = [];
  return {
    calls,
    pause: (partitions: Paused) => void calls.push(['pause', partitions]),
    resume: (partitions: Paused) => void calls.push(['resume', partitions]),
  };
}

test('the chunk size halves after a failure down to 1, and doubles after a success up to the largest', (t) => {
  t.is(nextChunkSize(100, 100, false), 50);
  t.is(nextChunkSize(3, 100, false), 1);
  t.is(nextChunkSize(1, 100, false), 1);
  t.is(nextChunkSize(1, 100, true), 2);
  t.is(nextChunkSize(64, 100, true), 100);
  t.is(nextChunkSize(100, 100, true), 100);
});

test('each partition has its own chunk size and failure count; a success resets the count', (t) => {
  const backoff = new PartitionBackoff(fakeConsumer());
  t.is(backoff.chunkSize('a', 0, 100), 100, 'the largest until a failure');
  backoff.failed('a', 0, 100, 100);
  backoff.failed('a', 0, 50, 100);
  t.is(backoff.chunkSize('a', 0, 100), 25);
  t.is(backoff.chunkSize('a', 1, 100), 100, 'another partition is not affected');
  t.is(backoff.nextRetry('a', 0, 100, 10_000).attempt, 1);
  t.is(backoff.nextRetry('a', 0, 100, 10_000).attempt, 2);
  t.is(backoff.nextRetry('a', 1, 100, 10_000).attempt, 1);
  backoff.succeeded('a', 0, 25, 100);
  t.is(backoff.chunkSize('a', 0, 100), 50);
  const { attempt, delayMs } = backoff.nextRetry('a', 0, 100, 10_000);
  t.is(attempt, 1, 'counted again from the first after a success');
  t.true(delayMs >= 50 && delayMs <= 100, `${delayMs}`);
});

test('a paused partition is resumed after its delay, unless the backoff is stopped first', async (t) => {
  const consumer = fakeConsumer();
  const backoff = new PartitionBackoff(consumer);
  backoff.pause('a', 2, 10);
  backoff.pause('b', 0, 60_000);
  t.deepEqual(consumer.calls, [
    ['pause', [{ topic: 'a', partitions: [2] }]],
    ['pause', [{ topic: 'b', partitions: [0] }]],
  ]);
  await sleep(100);
  t.deepEqual(consumer.calls.slice(2), [['resume', [{ topic: 'a', partitions: [2] }]]]);
  backoff.stop();
  t.is(consumer.calls.length, 3, 'the long pause is cancelled, and no timer holds the process');
});

test('a resume kafkajs refuses (its group crashed meanwhile) is dropped', async (t) => {
  let resumes = 0;
  const backoff = new PartitionBackoff({
    pause: () => undefined,
    resume: () => {
      resumes += 1;
      throw new Error('not initialized');
    },
  });
  backoff.pause('a', 0, 1);
  await sleep(30);
  // Had the error left the timer, it would be an uncaught exception, which fails the test run.
  t.is(resumes, 1);
});
