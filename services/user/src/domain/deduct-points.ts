import { Reasons, type Reason, type StockReserved } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import { deductPoints as applyDeduction, hasDeduction, lockUser, type User } from '../data/user-repository.js';

export type DeductionDecision = { deducted: true } | { deducted: false; reason: Reason };

/** A user can pay an order when they exist and have at least its amount in points. */
export function decideDeduction(user: User | undefined, amount: number): DeductionDecision {
  if (!user) return { deducted: false, reason: Reasons.UNKNOWN_USER };
  if (user.points < amount) return { deducted: false, reason: Reasons.INSUFFICIENT_POINTS };
  return { deducted: true };
}

/**
 * Saga step 3, inside the consumer's transaction. Returns undefined when this order's amount was
 * deducted already (nothing to do, nothing to emit).
 */
export async function deductPoints(trx: Knex.Transaction, stock: StockReserved): Promise<DeductionDecision | undefined> {
  const user = await lockUser(trx, stock.userId);
  if (await hasDeduction(trx, stock.orderId)) return undefined;
  const decision = decideDeduction(user, stock.amount);
  if (decision.deducted) await applyDeduction(trx, stock.userId, stock.orderId, stock.amount);
  return decision;
}
