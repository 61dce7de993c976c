import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Offsets } from 'kafkajs';
import { batchCommit, idleCommitDue, OffsetCommitter } from '../../src/consumer/offset-committer.js';

/** Stands in for kafkajs' commitOffsetsIfNecessary: records 'all' ({} given) or 'if-due' (no argument). */
function fakeCommits(fail = false) {
  const calls: Array<'all' | 'if-due'> = [];
  const commit = async (offsets?: Offsets) => {
    calls.push(offsets ? 'all' : 'if-due');
    if (fail) throw new Error('rebalance in progress');
  };
  return { calls, commit };
}

test('a batch commits everything after a failure, a dead letter or with no interval; otherwise only when due', (t) => {
  t.is(batchCommit({ failed: false, deadLettered: false }, 1000), 'if-due');
  t.is(batchCommit({ failed: true, deadLettered: false }, 1000), 'all');
  t.is(batchCommit({ failed: false, deadLettered: true }, 1000), 'all');
  t.is(batchCommit({ failed: false, deadLettered: false }, 0), 'all');
});

test('the idle check commits only what is pending, with no batch running, a whole interval after the last', (t) => {
  const state = { pending: true, batchesInFlight: 0, lastBatchEnded: 10_000 };
  t.true(idleCommitDue(state, 1000, 11_000));
  t.false(idleCommitDue(state, 1000, 10_999), 'not a whole interval yet');
  t.false(idleCommitDue({ ...state, pending: false }, 1000, 20_000), 'nothing to commit');
  t.false(idleCommitDue({ ...state, batchesInFlight: 1 }, 1000, 20_000), 'a batch is running');
});

test('runBatch commits as batchCommit decides, rethrows the batch error, and swallows a failed commit', async (t) => {
  const committer = new OffsetCommitter(1000);
  const ok = fakeCommits();
  await committer.runBatch(ok.commit, async () => false);
  await committer.runBatch(ok.commit, async () => true);
  await t.throwsAsync(
    committer.runBatch(ok.commit, async () => Promise.reject(new Error('deadlock'))),
    { message: 'deadlock' },
  );
  t.deepEqual(ok.calls, ['if-due', 'all', 'all']);
  const refused = fakeCommits(true);
  await t.notThrowsAsync(committer.runBatch(refused.commit, async () => true));
  t.deepEqual(refused.calls, ['all']);
});

test('drain waits for the batch in flight, then commits what it resolved', async (t) => {
  const committer = new OffsetCommitter(1000);
  const { calls, commit } = fakeCommits();
  let finish!: () => void;
  const batch = committer.runBatch(commit, () => new Promise<boolean>((resolve) => (finish = () => resolve(false))));
  let drained = false;
  const draining = committer.drain().then(() => (drained = true));
  await sleep(20);
  t.false(drained, 'the batch is still running');
  finish();
  await Promise.all([batch, draining]);
  t.deepEqual(calls, ['if-due', 'all']);
});

test('after a crash, the last commit is tried once and nothing is committed for it again', async (t) => {
  const committer = new OffsetCommitter(1000);
  const { calls, commit } = fakeCommits();
  await committer.runBatch(commit, async () => false);
  committer.onCrash();
  await committer.drain();
  t.deepEqual(calls, ['if-due', 'all']);
});

test('an idle committer commits once an interval has passed without a batch', async (t) => {
  const committer = new OffsetCommitter(20);
  const { calls, commit } = fakeCommits();
  committer.startIdleCommits();
  try {
    await committer.runBatch(commit, async () => false);
    await sleep(150);
    t.deepEqual(calls, ['if-due', 'all'], 'one idle commit, then nothing is pending');
  } finally {
    committer.stopIdleCommits();
  }
});
