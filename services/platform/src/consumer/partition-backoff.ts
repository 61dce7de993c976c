import type { Consumer } from 'kafkajs';

/** Exponential backoff with full jitter over the upper half: attempt 1 waits about `minMs`. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * The events of a partition to apply in its next transaction: halved after a transient failure (at least
 * one), doubled after a success (at most `largest`). Under lock contention (partitions' batches locking the
 * same rows in different orders deadlock) transactions shrink until they pass.
 */
export function nextChunkSize(size: number, largest: number, succeeded: boolean): number {
  return succeeded ? Math.min(largest, size * 2) : Math.max(1, Math.floor(size / 2));
}

/**
 * Per partition of one consumer: the chunk size, the transient failures in a row, and the pause that
 * follows one. A paused partition is resumed by a timer, so no handler call waits out the backoff and the
 * member keeps heartbeating while its other partitions go on.
 */
export class PartitionBackoff {
  /** Transient failures in a row per partition ("topic:partition"), for the backoff. */
  private readonly attempts = new Map<string, number>();
  /** Events per transaction per partition: fewer after a transient failure, back up after successes. */
  private readonly chunkSizes = new Map<string, number>();
  /** Timers that resume paused partitions; cleared on stop. */
  private readonly resumeTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly consumer: Pick<Consumer, 'pause' | 'resume'>) {}

  /** How many events of the partition its next transaction takes (`largest` until a failure). */
  chunkSize(topic: string, partition: number, largest: number): number {
    return this.chunkSizes.get(`${topic}:${partition}`) ?? largest;
  }

  /** A chunk of `size` events committed: the next one may be larger, and the failure count starts over. */
  succeeded(topic: string, partition: number, size: number, largest: number): void {
    const key = `${topic}:${partition}`;
    this.chunkSizes.set(key, nextChunkSize(size, largest, true));
    this.attempts.delete(key);
  }

  /** A chunk of `size` events stopped short on a transient failure: the next one is smaller. */
  failed(topic: string, partition: number, size: number, largest: number): void {
    this.chunkSizes.set(`${topic}:${partition}`, nextChunkSize(size, largest, false));
  }

  /** Counts one more retry of the partition; its number, and how long to wait before it. */
  nextRetry(topic: string, partition: number, minMs: number, maxMs: number): { attempt: number; delayMs: number } {
    const key = `${topic}:${partition}`;
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    return { attempt, delayMs: backoffMs(attempt, minMs, maxMs) };
  }

  /** Pauses the partition and resumes it after `delayMs`; the other partitions are fetched meanwhile. */
  pause(topic: string, partition: number, delayMs: number): void {
    const partitions = [{ topic, partitions: [partition] }];
    this.consumer.pause(partitions);
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      try {
        this.consumer.resume(partitions);
      } catch {
        // kafkajs crashed and dropped its group meanwhile (it throws "not initialized"); the group it
        // starts again has nothing paused.
      }
    }, delayMs);
    this.resumeTimers.add(timer);
  }

  /** Cancels the pending resumes (the consumer is stopping). */
  stop(): void {
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
  }
}
