import { isDuplicateKey, type Statement } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';

export interface User {
  id: string;
  name: string;
  points: number;
}

/**
 * What this service decided for an order, one row per order: DEDUCTED (points taken), REFUSED (nothing
 * taken: `reason`), REFUNDED (taken, then given back when the order was cancelled), CANCELLED (the order
 * ended before any decision: nothing will be taken for it).
 */
export type DeductionStatus = 'DEDUCTED' | 'REFUSED' | 'REFUNDED' | 'CANCELLED';

export interface Deduction {
  orderId: string;
  userId: string;
  /** The order's amount the decision was about; 0 for a cancellation, which never saw one. */
  amount: number;
  status: DeductionStatus;
  reason: string | null;
}

const toUser = (row: { id: string; name: string; points: string | number }): User => ({
  id: row.id,
  name: row.name,
  points: Number(row.points),
});

export async function insertUser(db: Knex, user: User): Promise<void> {
  await db('users').insert({ ...user, points_granted: user.points });
}

export async function findUser(db: Knex, id: string): Promise<User | undefined> {
  const row = await db('users').where({ id }).first('id', 'name', 'points');
  return row ? toUser(row) : undefined;
}

export async function lockUser(trx: Knex.Transaction, id: string): Promise<User | undefined> {
  const row = await trx('users').where({ id }).forUpdate().first('id', 'name', 'points');
  return row ? toUser(row) : undefined;
}

/** The statement that records the decision for an order; its primary key refuses a second (see `isDuplicateKey`). */
export function deductionStatement(trx: Knex.Transaction, deduction: Deduction): Statement {
  const { orderId, userId, amount, status, reason } = deduction;
  return trx('point_deductions').insert({ order_id: orderId, user_id: userId, amount, status, reason });
}

/**
 * Records the decision for an order; false, and nothing written, when the order has a row already. The
 * primary key decides: a row another transaction committed meanwhile makes the insert fail as a
 * duplicate, which only undoes this statement.
 */
export async function recordDeduction(trx: Knex.Transaction, deduction: Deduction): Promise<boolean> {
  try {
    await deductionStatement(trx, deduction);
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}

/** The decision recorded for an order, locked for update. */
export async function lockDeduction(trx: Knex.Transaction, orderId: string): Promise<Deduction | undefined> {
  const row = await trx('point_deductions')
    .where({ order_id: orderId })
    .forUpdate()
    .first('order_id', 'user_id', 'amount', 'status', 'reason');
  return row
    ? { orderId: row.order_id, userId: row.user_id, amount: Number(row.amount), status: row.status as DeductionStatus, reason: row.reason }
    : undefined;
}

/** The statement that adds `delta` points (negative to take them). */
export function changePoints(trx: Knex.Transaction, userId: string, delta: number): Statement {
  return trx('users')
    .where({ id: userId })
    .update({ points: trx.raw('points + ?', [delta]), updated_at: trx.fn.now(6) });
}

export function markRefunded(trx: Knex.Transaction, orderId: string): Statement {
  return trx('point_deductions')
    .where({ order_id: orderId })
    .update({ status: 'REFUNDED', updated_at: trx.fn.now(6) });
}
