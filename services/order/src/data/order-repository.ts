import type { Statement } from '@cdc-outbox-saga/platform';
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
  /** The subject that placed it, from the bearer token the order service verified; null when `placeOrder` was called without one. */
  placedBy: string | null;
  createdAt: Date;
}

/** What ends a saga, as the transaction that ends it knows it: enough to finish a waiter's view unread. */
export interface SagaOutcome {
  status: 'COMPLETED' | 'CANCELLED';
  reason?: string;
  amount: number | null;
  updatedAt: string;
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

/**
 * Step 1's rows: the PENDING saga record first (its unique Idempotency-Key is the likeliest refusal, and
 * sent together the server runs nothing after a refused statement), then order, lines and PENDING payment.
 * The saga's times are this instance's clock, so the view it answers with is what a later GET reads.
 */
export function orderStatements(trx: Knex.Transaction, order: NewOrder): Statement[] {
  return [
    trx('sagas').insert({
      order_id: order.id,
      user_id: order.userId,
      status: 'PENDING',
      items: JSON.stringify(order.items),
      idempotency_key: order.idempotencyKey,
      request_hash: order.requestHash,
      placed_by: order.placedBy,
      created_at: order.createdAt,
      updated_at: order.createdAt,
    }),
    trx('orders').insert({ id: order.id, user_id: order.userId, status: 'PENDING' }),
    trx('order_lines').insert(
      order.items.map((item, index) => ({
        order_id: order.id,
        line_no: index + 1,
        product_id: item.productId,
        quantity: item.quantity,
      })),
    ),
    trx('payments').insert({ id: order.paymentId, order_id: order.id, status: 'PENDING' }),
  ];
}

/** An order as GET shows it, with who placed it (not shown, but it decides who may read it). */
export async function findOrderView(db: Knex, orderId: string): Promise<{ view: OrderView; placedBy: string | null } | undefined> {
  const row = (await db('sagas').where({ order_id: orderId }).first()) as SagaRow | undefined;
  return row ? { view: toView(row), placedBy: row.placed_by } : undefined;
}

export async function findByIdempotencyKey(db: Knex, key: string): Promise<{ view: OrderView; requestHash: string | null } | undefined> {
  const row = (await db('sagas').where({ idempotency_key: key }).first()) as SagaRow | undefined;
  return row ? { view: toView(row), requestHash: row.request_hash } : undefined;
}

/** The saga's status, locked until the transaction ends: one event at a time decides its outcome. */
export async function lockSaga(trx: Knex.Transaction, orderId: string): Promise<{ status: SagaStatus; createdAt: Date } | undefined> {
  const row = await trx('sagas').where({ order_id: orderId }).forUpdate().first('status', 'created_at');
  return row ? { status: row.status as SagaStatus, createdAt: row.created_at as Date } : undefined;
}

/** Step 4: order, payment and saga COMPLETED with the priced amount, in one statement. */
export function markCompleted(trx: Knex.Transaction, orderId: string, amount: number, at: Date): Statement {
  return trx.raw(
    `UPDATE orders o JOIN payments p ON p.order_id = o.id JOIN sagas s ON s.order_id = o.id
        SET o.status = 'COMPLETED', o.amount = ?, o.updated_at = ?,
            p.status = 'COMPLETED', p.amount = ?, p.updated_at = ?,
            s.status = 'COMPLETED', s.amount = ?, s.updated_at = ?, s.finished_at = ?
      WHERE o.id = ?`,
    [amount, at, amount, at, amount, at, at, orderId],
  );
}

/** C1 / C3 / the deadline: the order, its lines and its payment are deleted; the saga record keeps the outcome. */
export function cancellationStatements(
  trx: Knex.Transaction,
  orderId: string,
  reason: string,
  amount: number | null,
  at: Date,
): Statement[] {
  return [
    trx('payments').where({ order_id: orderId }).delete(),
    trx('order_lines').where({ order_id: orderId }).delete(),
    trx('orders').where({ id: orderId }).delete(),
    trx('sagas').where({ order_id: orderId }).update({ status: 'CANCELLED', reason, amount, updated_at: at, finished_at: at }),
  ];
}

/** A PENDING saga past its deadline, locked by the sweep that found it. */
export interface ExpiredSaga {
  orderId: string;
  userId: string;
  /** By the database's clock against `created_at` (written by the placing instance's clock). */
  ageSeconds: number;
}

/**
 * Up to `limit` PENDING sagas created more than `deadlineSeconds` ago, oldest first, locked. Rows another
 * transaction holds (a step finishing that saga right now, another instance's sweep) are skipped, not
 * waited for: that transaction decides them, and the status check of whoever comes next sees its outcome.
 * The database's clock decides against `created_at`, which the placing instance's clock wrote: with clocks
 * kept in step (NTP), they differ by far less than any deadline worth setting.
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
    { pending: string | number; oldest_us: string | number | null } | undefined;
  return { count: Number(row?.pending ?? 0), oldestAgeSeconds: Number(row?.oldest_us ?? 0) / 1e6 };
}
