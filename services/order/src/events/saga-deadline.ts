import { Reasons, type Logger, type OutboxWriter } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import { lockExpiredSagas, pendingSummary, type ExpiredSaga } from '../data/order-repository.js';
import { cancelOrder } from '../domain/finish-order.js';
import { reportAfterCommit, type OutcomeReporting } from './saga-finished.js';

/** Sagas cancelled per transaction: a backlog is worked off in short transactions, one after the other. */
export const SWEEP_BATCH = 100;

/**
 * In one transaction: locks up to `limit` sagas PENDING for longer than `deadlineSeconds` and cancels each
 * exactly as C1 and C3 do (order, lines and payment deleted, the saga CANCELLED with SAGA_TIMEOUT,
 * OrderCancelled in the outbox). Returns how many it found and those it cancelled: the same ones, as the
 * rows were locked while PENDING; `cancelOrder`'s own status check stays as the guard it is for C1 and C3.
 */
export async function cancelExpiredSagas(
  trx: Knex.Transaction,
  outbox: OutboxWriter,
  reporting: OutcomeReporting,
  deadlineSeconds: number,
  limit = SWEEP_BATCH,
): Promise<{ found: number; cancelled: ExpiredSaga[] }> {
  const expired = await lockExpiredSagas(trx, deadlineSeconds, limit);
  const cancelled: ExpiredSaga[] = [];
  for (const saga of expired) {
    const reason = Reasons.SAGA_TIMEOUT;
    const finished = await cancelOrder(trx, outbox, {
      orderId: saga.orderId,
      userId: saga.userId,
      reason,
      amount: null,
      traceparent: null,
    });
    if (!finished) continue;
    reportAfterCommit(reporting, trx, saga.orderId, finished);
    cancelled.push(saga);
  }
  return { found: expired.length, cancelled };
}

export interface DeadlineSweeperOptions {
  db: Knex;
  outbox: OutboxWriter;
  logger: Logger;
  reporting: OutcomeReporting;
  /** Read at every round: `saga.deadlineSeconds` is a live setting. */
  deadlineSeconds: () => number;
  intervalMs: number;
}

/**
 * The saga's deadline. The one thing that happens to a saga without an event is time passing, so every
 * order instance looks every `intervalMs` for sagas PENDING longer than the deadline and ends them
 * (`cancelExpiredSagas`); the product and user services then give back whatever they hold for the order
 * when they read its OrderCancelled. Instances sweep side by side: SKIP LOCKED hands each one different
 * rows, and a saga a step is finishing at that moment is skipped and left to that step. Each round also
 * counts the PENDING sagas for the `saga_pending_orders` and `saga_oldest_pending_age_seconds` gauges.
 */
export class DeadlineSweeper {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: DeadlineSweeperOptions) {}

  start(): this {
    this.schedule();
    return this;
  }

  /** No new round starts; the round in flight finishes (its transaction commits or rolls back). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.sweep().finally(() => this.schedule());
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** One round: every expired saga cancelled, a batch per transaction, then the PENDING sagas counted. Never throws. */
  async sweep(): Promise<void> {
    const { db, logger, reporting } = this.options;
    try {
      const deadlineSeconds = this.options.deadlineSeconds();
      let found: number;
      do {
        found = await this.cancelBatch(deadlineSeconds);
      } while (found === SWEEP_BATCH && !this.stopped);
      const { count, oldestAgeSeconds } = await pendingSummary(db);
      reporting.sagaMetrics.recordPending(count, oldestAgeSeconds);
    } catch (error) {
      // The database away, a deadlock: the next round tries again; no saga is lost by waiting one more round.
      logger.warn({ err: error }, 'deadline sweep failed; trying again next round');
    }
  }

  private async cancelBatch(deadlineSeconds: number): Promise<number> {
    const { db, outbox, logger, reporting } = this.options;
    // READ COMMITTED: the range read locks only the rows it returns. Under REPEATABLE READ it would also lock
    // the gap that ends the range, where new orders' saga rows may go, until the transaction ends. (The
    // binlog is row-based, as Debezium requires, so the weaker level is allowed for writes.)
    const { found, cancelled } = await db.transaction((trx) => cancelExpiredSagas(trx, outbox, reporting, deadlineSeconds), {
      isolationLevel: 'read committed',
    });
    for (const saga of cancelled) {
      logger.warn(
        { orderId: saga.orderId, userId: saga.userId, ageSeconds: Math.round(saga.ageSeconds * 10) / 10, deadlineSeconds },
        'saga still PENDING at its deadline: order cancelled (SAGA_TIMEOUT)',
      );
    }
    return found;
  }
}
