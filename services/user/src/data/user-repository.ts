import type { Knex } from 'knex';

export interface User {
  id: string;
  name: string;
  points: number;
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

export async function hasDeduction(trx: Knex.Transaction, orderId: string): Promise<boolean> {
  return (await trx('point_deductions').where({ order_id: orderId }).first('order_id')) !== undefined;
}

export async function deductPoints(trx: Knex.Transaction, userId: string, orderId: string, amount: number): Promise<void> {
  await trx('users').where({ id: userId }).update({ points: trx.raw('points - ?', [amount]), updated_at: trx.fn.now(6) });
  await trx('point_deductions').insert({ order_id: orderId, user_id: userId, amount });
}
