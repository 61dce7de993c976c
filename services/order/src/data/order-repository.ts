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

/** C1 / C3: the order, its lines and its payment are deleted; the saga record keeps the outcome. */
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
