import type { Knex } from 'knex';

export type SagaStatus = 'PENDING' | 'COMPLETED' | 'CANCELLED';

export interface OrderLine {
  productId: string;
  quantity: number;
}

/** What GET /orders/:id shows: the saga record, which outlives a cancelled order's rows. */
export interface OrderView {
  id: string;
  status: SagaStatus;
  reason?: string;
  userId: string;
  items: OrderLine[];
  amount: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewOrder {
  id: string;
  userId: string;
  items: OrderLine[];
  paymentId: string;
  idempotencyKey: string | null;
  requestHash: string | null;
  /** The authenticated subject that placed it, when it came through the gateway. */
  placedBy: string | null;
}

interface SagaRow {
  order_id: string;
  user_id: string;
  status: SagaStatus;
  reason: string | null;
  amount: string | number | null;
  items: string;
  request_hash: string | null;
  placed_by: string | null;
  created_at: Date;
  updated_at: Date;
}

const toView = (row: SagaRow): OrderView => ({
  id: row.order_id,
  status: row.status,
  ...(row.reason ? { reason: row.reason } : {}),
  userId: row.user_id,
  items: JSON.parse(row.items) as OrderLine[],
  amount: row.amount === null ? null : Number(row.amount),
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/** Step 1's rows: order, lines, PENDING payment and the PENDING saga record. */
export async function insertOrder(trx: Knex.Transaction, order: NewOrder): Promise<void> {
  await trx('orders').insert({ id: order.id, user_id: order.userId, status: 'PENDING' });
  await trx('order_lines').insert(
    order.items.map((item, index) => ({
      order_id: order.id,
      line_no: index + 1,
      product_id: item.productId,
      quantity: item.quantity,
    })),
  );
  await trx('payments').insert({ id: order.paymentId, order_id: order.id, status: 'PENDING' });
  await trx('sagas').insert({
    order_id: order.id,
    user_id: order.userId,
    status: 'PENDING',
    items: JSON.stringify(order.items),
    idempotency_key: order.idempotencyKey,
    request_hash: order.requestHash,
    placed_by: order.placedBy,
  });
}

/** An order as GET shows it, with who placed it (not shown, but it decides who may read it). */
export async function findOrderView(db: Knex, orderId: string): Promise<{ view: OrderView; placedBy: string | null } | undefined> {
  const row = (await db('sagas').where({ order_id: orderId }).first()) as SagaRow | undefined;
  return row ? { view: toView(row), placedBy: row.placed_by } : undefined;
}

export async function findByIdempotencyKey(
  db: Knex,
  key: string,
): Promise<{ view: OrderView; requestHash: string | null } | undefined> {
  const row = (await db('sagas').where({ idempotency_key: key }).first()) as SagaRow | undefined;
  return row ? { view: toView(row), requestHash: row.request_hash } : undefined;
}

/** The saga's status, locked until the transaction ends: one event at a time decides its outcome. */
export async function lockSaga(trx: Knex.Transaction, orderId: string): Promise<{ status: SagaStatus; createdAt: Date } | undefined> {
  const row = await trx('sagas').where({ order_id: orderId }).forUpdate().first('status', 'created_at');
  return row ? { status: row.status as SagaStatus, createdAt: row.created_at as Date } : undefined;
}

/** Step 4: order and payment COMPLETED with the priced amount. */
export async function markCompleted(trx: Knex.Transaction, orderId: string, amount: number): Promise<void> {
  const now = trx.fn.now(6);
  await trx('orders').where({ id: orderId }).update({ status: 'COMPLETED', amount, updated_at: now });
  await trx('payments').where({ order_id: orderId }).update({ status: 'COMPLETED', amount, updated_at: now });
  await trx('sagas').where({ order_id: orderId }).update({ status: 'COMPLETED', amount, updated_at: now, finished_at: now });
}

/** C1 / C3 / the deadline: the order, its lines and its payment are deleted; the saga record keeps the outcome. */
export async function deleteOrderAndRecordCancellation(
  trx: Knex.Transaction,
  orderId: string,
  reason: string,
  amount: number | null,
): Promise<void> {
  await trx('payments').where({ order_id: orderId }).delete();
  await trx('order_lines').where({ order_id: orderId }).delete();
  await trx('orders').where({ id: orderId }).delete();
  const now = trx.fn.now(6);
  await trx('sagas').where({ order_id: orderId }).update({ status: 'CANCELLED', reason, amount, updated_at: now, finished_at: now });
}

/** A PENDING saga past its deadline, locked by the sweep that found it. */
export interface ExpiredSaga {
  orderId: string;
  userId: string;
  /** By the database's clock, which also wrote `created_at`. */
  ageSeconds: number;
}

/**
 * Up to `limit` PENDING sagas created more than `deadlineSeconds` ago, oldest first, locked. Rows another
 * transaction holds (a step finishing that saga right now, another instance's sweep) are skipped, not
 * waited for: that transaction decides them, and the status check of whoever comes next sees its outcome.
 * The database's clock decides, as it wrote `created_at`: every instance agrees whatever its own clock says.
 */
export async function lockExpiredSagas(trx: Knex.Transaction, deadlineSeconds: number, limit: number): Promise<ExpiredSaga[]> {
  const rows = (await trx('sagas')
    .where({ status: 'PENDING' })
    .where('created_at', '<', trx.raw('NOW(6) - INTERVAL ? SECOND', [deadlineSeconds]))
    .orderBy('created_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .select('order_id', 'user_id', trx.raw('TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6)) AS age_us'))) as Array<{
    order_id: string;
    user_id: string;
    age_us: string | number;
  }>;
  return rows.map((row) => ({ orderId: row.order_id, userId: row.user_id, ageSeconds: Number(row.age_us) / 1e6 }));
}

/** How many sagas are PENDING and how old the oldest is (0 when none), in one read. */
export async function pendingSummary(db: Knex): Promise<{ count: number; oldestAgeSeconds: number }> {
  const row = (await db('sagas')
    .where({ status: 'PENDING' })
    .first(db.raw('COUNT(*) AS pending'), db.raw('TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)) AS oldest_us'))) as
    | { pending: string | number; oldest_us: string | number | null }
    | undefined;
  return { count: Number(row?.pending ?? 0), oldestAgeSeconds: Number(row?.oldest_us ?? 0) / 1e6 };
}
