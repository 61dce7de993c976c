import { EventEmitter, once } from 'node:events';
import type { EachBatchPayload, Offsets } from 'kafkajs';

/** kafkajs' commit for one batch: with no argument, only once its `autoCommitInterval` has passed. */
type CommitOffsetsIfNecessary = EachBatchPayload['commitOffsetsIfNecessary'];

/**
 * How a batch that just ended commits: every resolved offset now (`all`), or only if the interval has
 * passed since the last commit (`if-due`). After a failure (a rebalance seen by heartbeat()) what was
 * applied is committed now, so the next owner starts after it. After a dead letter too: unlike an applied
 * event, a dead-lettered one left no record in processed_events, and delivered again it would be
 * dead-lettered twice. An interval of 0 commits after every batch.
 */
export function batchCommit(batch: { failed: boolean; deadLettered: boolean }, intervalMs: number): 'all' | 'if-due' {
  return batch.failed || batch.deadLettered || intervalMs === 0 ? 'all' : 'if-due';
}

/** What the idle check sees: whether a batch resolved offsets since the last commit, and when batches ran. */
export interface CommitState {
  pending: boolean;
  batchesInFlight: number;
  /** When the last batch ended (ms since the epoch). */
  lastBatchEnded: number;
}

/** Whether the idle check commits now: something is pending and no batch has run for a whole interval. */
export function idleCommitDue(state: CommitState, intervalMs: number, now: number): boolean {
  return state.pending && state.batchesInFlight === 0 && now - state.lastBatchEnded >= intervalMs;
}

/**
 * When a consumer's resolved offsets are committed: by a batch at most once per interval, by a timer once
 * the consumer has been idle for an interval, as a rebalance begins, and when it stops. kafkajs' own
 * commits are off (`autoCommit: false`), and `intervalMs` is what it is given as `autoCommitInterval`,
 * which `commitOffsetsIfNecessary()` without an argument still heeds.
 */
export class OffsetCommitter {
  /**
   * kafkajs' commit of every resolved offset not yet committed, for its current generation and
   * assignment, taken from the latest batch (it is not on the consumer's public API).
   */
  private commitResolved: (() => Promise<void>) | undefined;
  private readonly state: CommitState = { pending: false, batchesInFlight: 0, lastBatchEnded: 0 };
  private readonly idle = new EventEmitter();
  private idleCommitTimer: NodeJS.Timeout | undefined;

  /** `intervalMs`: the least time between two commits of a flowing consumer (0 commits after every batch). */
  constructor(readonly intervalMs: number) {}

  /** Runs one batch's work (true when it dead-lettered a message), then commits as `batchCommit` decides. */
  async runBatch(commitOffsetsIfNecessary: CommitOffsetsIfNecessary, apply: () => Promise<boolean>): Promise<void> {
    // Given an object without `topics`, kafkajs commits every resolved offset not committed yet, whatever
    // the interval (its typings ask for `topics`, which would name the offsets explicitly).
    const commitAll = () => commitOffsetsIfNecessary({} as Offsets);
    this.commitResolved = commitAll;
    this.state.batchesInFlight += 1;
    let failed = false;
    let deadLettered = false;
    try {
      deadLettered = await apply();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      this.state.batchesInFlight -= 1;
      this.state.lastBatchEnded = Date.now();
      this.state.pending = true;
      try {
        if (batchCommit({ failed, deadLettered }, this.intervalMs) === 'all') {
          await commitAll();
        } else {
          await commitOffsetsIfNecessary();
        }
      } catch {
        // Not committed: those events come again and are found in processed_events.
      } finally {
        if (this.state.batchesInFlight === 0) this.idle.emit('idle');
      }
    }
  }

  /** Starts the timer that commits once no batch has run for a whole interval (none for an interval of 0). */
  startIdleCommits(): void {
    if (this.intervalMs > 0) {
      this.idleCommitTimer = setInterval(() => void this.commitWhenIdle(), this.intervalMs).unref();
    }
  }

  /**
   * A rebalance begins: what this instance resolved is committed now, while the old generation may still
   * commit. A failure is dropped: the new owner applies those events again and finds them in processed_events.
   */
  onRebalancing(): void {
    void this.commitResolved?.().catch(() => undefined);
  }

  /**
   * kafkajs' runner crashed: its commit is tried once and dropped, and nothing is pending any more (its
   * restart reads the group's committed offsets anew).
   */
  onCrash(): void {
    const commit = this.commitResolved;
    this.commitResolved = undefined;
    this.state.pending = false;
    void commit?.().catch(() => undefined);
  }

  /** Stops the idle timer. */
  stopIdleCommits(): void {
    clearInterval(this.idleCommitTimer);
  }

  /** Waits for the batches in flight to return, then commits what they resolved (a failure is dropped). */
  async drain(): Promise<void> {
    while (this.state.batchesInFlight > 0) await once(this.idle, 'idle');
    await this.commitResolved?.().catch(() => undefined);
  }

  private async commitWhenIdle(): Promise<void> {
    if (!idleCommitDue(this.state, this.intervalMs, Date.now())) return;
    this.state.pending = false;
    try {
      await this.commitResolved?.();
    } catch {
      // A rebalance or a crash of kafkajs' group meanwhile: the next batch commits, or the new owner
      // applies those events again and finds them in processed_events.
      this.state.pending = true;
    }
  }
}
