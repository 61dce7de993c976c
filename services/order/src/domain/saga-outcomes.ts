import { EventEmitter, once } from 'node:events';
import type { Knex } from 'knex';
import { findOrderView, type OrderView } from '../data/order-repository.js';

/**
 * Lets a request that asked for `Prefer: wait=N` learn its saga's outcome. The instance that commits
 * an outcome announces it here right after the commit. An outcome committed by another instance (it
 * owns the partition) is found by one query every `pollMs` for all the orders waited on, however many
 * requests wait.
 */
export class SagaOutcomes {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private readonly waiting = new Map<string, number>();
  private poller: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Knex,
    private readonly pollMs: number,
  ) {}

  /** Call with the transaction that decides the outcome: the waiters hear of it once it commits. */
  announceAfterCommit(trx: Knex.Transaction, orderId: string): void {
    trx.executionPromise.then(
      () => this.emitter.emit(orderId),
      () => undefined,
    );
  }

  /**
   * The order once it is COMPLETED or CANCELLED, or as it is (PENDING) when `waitMs` runs out or
   * `signal` aborts (the client went away).
   */
  async waitForOutcome(orderId: string, waitMs: number, signal?: AbortSignal): Promise<OrderView | undefined> {
    this.track(orderId, +1);
    try {
      const deadline = AbortSignal.any([AbortSignal.timeout(waitMs), ...(signal ? [signal] : [])]);
      const announced = once(this.emitter, orderId, { signal: deadline }).catch(() => undefined);
      // Read after subscribing: an outcome committed in between is not missed.
      const view = (await findOrderView(this.db, orderId))?.view;
      if (!view || view.status !== 'PENDING') return view;
      await announced;
      return (await findOrderView(this.db, orderId))?.view;
    } finally {
      this.track(orderId, -1);
    }
  }

  private track(orderId: string, delta: number): void {
    const count = (this.waiting.get(orderId) ?? 0) + delta;
    if (count > 0) this.waiting.set(orderId, count);
    else this.waiting.delete(orderId);
    if (this.waiting.size > 0 && !this.poller) {
      this.poller = setInterval(() => void this.pollOnce(), this.pollMs).unref();
    } else if (this.waiting.size === 0 && this.poller) {
      clearInterval(this.poller);
      this.poller = undefined;
    }
  }

  private async pollOnce(): Promise<void> {
    const ids = [...this.waiting.keys()];
    if (ids.length === 0) return;
    try {
      const finished = await this.db('sagas').whereIn('order_id', ids).whereNot('status', 'PENDING').pluck('order_id');
      for (const id of finished) this.emitter.emit(id);
    } catch {
      // The next round tries again; each waiter still ends at its deadline.
    }
  }
}
