import {
  inOneTrip,
  isDuplicateKey,
  Reasons,
  type OrderCancelled,
  type OutboxEvent,
  type OutboxWriter,
  type Reason,
  type StockReserved,
} from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import {
  changePoints,
  deductionStatement,
  lockDeduction,
  lockUser,
  markRefunded,
  recordDeduction,
  type Deduction,
  type User,
} from '../data/user-repository.js';

export type DeductionDecision = { deducted: true } | { deducted: false; reason: Reason };

/** A user can pay an order when they exist and have at least its amount in points. */
export function decideDeduction(user: User | undefined, amount: number): DeductionDecision {
  if (!user) return { deducted: false, reason: Reasons.UNKNOWN_USER };
  if (user.points < amount) return { deducted: false, reason: Reasons.INSUFFICIENT_POINTS };
  return { deducted: true };
}

/** The row that records a decision: a refusal keeps its reason and the amount it refused. */
export function deductionRecord(stock: Pick<StockReserved, 'orderId' | 'userId' | 'amount'>, decision: DeductionDecision): Deduction {
  const common = { orderId: stock.orderId, userId: stock.userId, amount: stock.amount };
  return decision.deducted ? { ...common, status: 'DEDUCTED', reason: null } : { ...common, status: 'REFUSED', reason: decision.reason };
}

/**
 * Saga step 3, inside the consumer's transaction: deduct the order's amount or refuse, and publish
 * PointsDeducted or PointsDeductionFailed. The decision is recorded either way, so that a replay of this
 * StockReserved at any age finds it and does nothing, even if the user has points enough now. After the
 * locking read, the decision, the points and the outbox row go in one round trip, the decision's row
 * first: when the order has a row already (decided before, or cancelled by its deadline) its primary key
 * refuses it, nothing after it runs, and undefined is returned: nothing to do, nothing to emit.
 */
export async function deductPoints(
  trx: Knex.Transaction,
  outbox: OutboxWriter,
  stock: StockReserved,
  traceparent: string | null,
): Promise<DeductionDecision | undefined> {
  const user = await lockUser(trx, stock.userId);
  const decision = decideDeduction(user, stock.amount);
  const writes = [
    deductionStatement(trx, deductionRecord(stock, decision)),
    ...(decision.deducted ? [changePoints(trx, stock.userId, -stock.amount)] : []),
  ];
  try {
    await outbox.write(trx, decisionEvent(stock, decision, traceparent), writes);
  } catch (error) {
    if (isDuplicateKey(error)) return undefined;
    throw error;
  }
  return decision;
}

/** What step 3 publishes for a decision. */
function decisionEvent(stock: StockReserved, decision: DeductionDecision, traceparent: string | null): OutboxEvent {
  const common = { orderId: stock.orderId, userId: stock.userId, amount: stock.amount, occurredAt: Date.now() };
  return decision.deducted
    ? { type: 'PointsDeducted', aggregateId: stock.orderId, payload: common, traceparent }
    : { type: 'PointsDeductionFailed', aggregateId: stock.orderId, payload: { ...common, reason: decision.reason }, traceparent };
}

export type OrderEnd = 'cancelled-before-decision' | 'refunded' | 'nothing-held';

/**
 * The order ended (OrderCancelled, whatever the reason): points taken for it go back, and none will be
 * taken for it later, whichever of OrderCancelled and a late StockReserved comes first.
 * - no row yet: a CANCELLED row is recorded, and a late StockReserved then finds it and takes nothing;
 * - DEDUCTED (the order ended by its deadline after the deduction): the points go back, REFUNDED;
 * - REFUSED, REFUNDED, CANCELLED: nothing is held (C1 and C3 cancellations always end here).
 * The user's row is locked first, as StockReserved does, so the two queue on it. The CANCELLED row is
 * inserted first, not looked for: a look for a missing row would lock the gap around it, and every
 * deduction inserted into that gap meanwhile would wait.
 */
export async function endOrder(trx: Knex.Transaction, order: OrderCancelled): Promise<OrderEnd> {
  await lockUser(trx, order.userId);
  const cancelled: Deduction = { orderId: order.orderId, userId: order.userId, amount: 0, status: 'CANCELLED', reason: order.reason };
  if (await recordDeduction(trx, cancelled)) return 'cancelled-before-decision';
  const deduction = await lockDeduction(trx, order.orderId);
  if (deduction?.status !== 'DEDUCTED') return 'nothing-held';
  await inOneTrip(trx, [changePoints(trx, deduction.userId, deduction.amount), markRefunded(trx, order.orderId)]);
  return 'refunded';
}
