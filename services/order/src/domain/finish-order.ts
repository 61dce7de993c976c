import type { OutboxWriter } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import { cancellationStatements, lockSaga, markCompleted, type SagaOutcome } from '../data/order-repository.js';

export interface Finish {
  orderId: string;
  userId: string;
  traceparent: string | null;
}

/** A saga this transaction ends: when it started, and how it ended. */
export interface Finished {
  startedAt: Date;
  outcome: SagaOutcome;
}

/**
 * Step 4: order and payment COMPLETED, OrderCompleted published. Returns the saga's start and outcome
 * when it was PENDING (so the outcome is new), or undefined when the saga had ended already.
 */
export async function completeOrder(
  trx: Knex.Transaction,
  outbox: OutboxWriter,
  finish: Finish & { amount: number },
): Promise<Finished | undefined> {
  const saga = await lockSaga(trx, finish.orderId);
  if (saga?.status !== 'PENDING') return undefined;
  const at = new Date();
  await outbox.write(
    trx,
    {
      type: 'OrderCompleted',
      aggregateId: finish.orderId,
      payload: { orderId: finish.orderId, userId: finish.userId, amount: finish.amount, occurredAt: Date.now() },
      traceparent: finish.traceparent,
    },
    [markCompleted(trx, finish.orderId, finish.amount, at)],
  );
  return { startedAt: saga.createdAt, outcome: { status: 'COMPLETED', amount: finish.amount, updatedAt: at.toISOString() } };
}

/**
 * C1 / C3, and the deadline (SAGA_TIMEOUT): delete order, lines and payment, record CANCELLED with the reason,
 * publish OrderCancelled. Returns the saga's start and outcome when it was PENDING, or undefined when it had
 * ended already: a late event of an ended saga changes nothing.
 */
export async function cancelOrder(
  trx: Knex.Transaction,
  outbox: OutboxWriter,
  finish: Finish & { reason: string; amount: number | null },
): Promise<Finished | undefined> {
  const saga = await lockSaga(trx, finish.orderId);
  if (saga?.status !== 'PENDING') return undefined;
  const at = new Date();
  await outbox.write(
    trx,
    {
      type: 'OrderCancelled',
      aggregateId: finish.orderId,
      payload: { orderId: finish.orderId, userId: finish.userId, reason: finish.reason, amount: finish.amount, occurredAt: Date.now() },
      traceparent: finish.traceparent,
    },
    cancellationStatements(trx, finish.orderId, finish.reason, finish.amount, at),
  );
  return {
    startedAt: saga.createdAt,
    outcome: { status: 'CANCELLED', reason: finish.reason, amount: finish.amount, updatedAt: at.toISOString() },
  };
}
