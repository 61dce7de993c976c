import { EventEmitter, once } from 'node:events';
import type { Knex } from 'knex';
import type { OrderView, SagaOutcome } from '../data/order-repository.js';

/**
 * Lets a request that asked for `Prefer: wait=N` learn its saga's outcome without reading the order again.
 * The instance that commits an outcome announces it here right after the commit, with what it wrote. An
 * outcome committed by another instance (it owns the partition) is found by one query every `pollMs` for
 * all the orders waited on, however many requests wait; that query also catches any announcement a
 * waiter was not yet listening for.
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
  announceAfterCommit(trx: Knex.Transaction, orderId: string, outcome: SagaOutcome): void {
    trx.executionPromise.then(
      () => this.emitter.emit(orderId, outcome),
      () => undefined,
    );
  }

  /**
   * `view` once its saga is COMPLETED or CANCELLED, or as it is (PENDING) when `waitMs` runs out or
   * `signal` aborts (the client went away). `view` is what the caller just wrote or read: the outcome
   * arrives with what changed, so nothing is read back.
   */
  async waitForOutcome(view: OrderView, waitMs: number, signal?: AbortSignal): Promise<OrderView> {
    if (view.status !== 'PENDING') return view;
    this.track(view.id, +1);
    try {
      const deadline = AbortSignal.any([AbortSignal.timeout(waitMs), ...(signal ? [signal] : [])]);
      const [outcome] = ((await once(this.emitter, view.id, { signal: deadline }).catch(() => [])) ?? []) as [SagaOutcome?];
      if (!outcome) return view;
      const { reason: _previous, ...rest } = view;
      return { ...rest, ...outcome };
    } finally {
      this.track(view.id, -1);
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
      const finished = (await this.db('sagas')
        .whereIn('order_id', ids)
        .whereNot('status', 'PENDING')
        .select('order_id', 'status', 'reason', 'amount', 'updated_at')) as Array<{
        order_id: string;
        status: SagaOutcome['status'];
        reason: string | null;
        amount: string | number | null;
        updated_at: Date;
      }>;
      for (const row of finished) {
        this.emitter.emit(row.order_id, {
          status: row.status,
          ...(row.reason ? { reason: row.reason } : {}),
          amount: row.amount === null ? null : Number(row.amount),
          updatedAt: row.updated_at.toISOString(),
        } satisfies SagaOutcome);
      }
    } catch {
      // The next round tries again; each waiter still ends at its deadline.
    }
  }
}
