import { inOneTrip, isDuplicateKey, type Statement } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';

export interface Product {
  id: string;
  name: string;
  price: number;
  stock: number;
}

export interface ReservationLine {
  productId: string;
  quantity: number;
  unitPrice: number;
}

/**
 * What this service decided for an order, one row per order: RESERVED (stock taken), RELEASED (taken,
 * then put back), REFUSED (nothing taken: `reason`, `productId`), CANCELLED (the order ended before any
 * decision: nothing will be taken for it).
 */
export type ReservationStatus = 'RESERVED' | 'RELEASED' | 'REFUSED' | 'CANCELLED';

export interface Reservation {
  orderId: string;
  userId: string;
  /** The priced amount of a reservation; 0 for a refusal or a cancellation. */
  amount: number;
  status: ReservationStatus;
  reason: string | null;
  productId: string | null;
  /** Empty unless stock was taken. */
  lines: ReservationLine[];
}

const toProduct = (row: { id: string; name: string; price: string | number; stock: string | number }): Product => ({
  id: row.id,
  name: row.name,
  price: Number(row.price),
  stock: Number(row.stock),
});

export async function insertProduct(db: Knex, product: Product): Promise<void> {
  await db('products').insert({ ...product, stock_received: product.stock });
}

export async function findProduct(db: Knex, id: string): Promise<Product | undefined> {
  const row = await db('products').where({ id }).first('id', 'name', 'price', 'stock');
  return row ? toProduct(row) : undefined;
}

/**
 * Locks the rows of these products for the rest of the transaction, in id order: concurrent orders
 * over the same products then queue instead of deadlocking.
 */
export async function lockProducts(trx: Knex.Transaction, ids: string[]): Promise<Map<string, Product>> {
  const rows = await trx('products').whereIn('id', ids).orderBy('id').forUpdate().select('id', 'name', 'price', 'stock');
  return new Map(rows.map((row) => [row.id, toProduct(row)]));
}

/**
 * The statement that adds each line's `delta` (negative to take stock), for all lines at once. InnoDB locks
 * the rows in primary-key order as it scans `id IN (…)`, the order `lockProducts` uses, so it cannot
 * deadlock against it.
 */
export function changeStock(trx: Knex.Transaction, changes: Array<{ productId: string; delta: number }>): Statement[] {
  if (changes.length === 0) return [];
  const cases = changes.map(() => 'WHEN ? THEN ?').join(' ');
  return [
    trx('products')
      .whereIn(
        'id',
        changes.map((change) => change.productId),
      )
      .update({
        stock: trx.raw(
          `stock + CASE id ${cases} END`,
          changes.flatMap((change) => [change.productId, change.delta]),
        ),
        updated_at: trx.fn.now(6),
      }),
  ];
}

/**
 * The statements that record the decision for an order, with its lines. The first is the insert of the
 * order's row, whose primary key refuses a second decision (ER_DUP_ENTRY, see `isDuplicateKey`).
 */
export function reservationStatements(trx: Knex.Transaction, reservation: Reservation): Statement[] {
  const { orderId, userId, amount, status, reason, productId, lines } = reservation;
  return [
    trx('reservations').insert({ order_id: orderId, user_id: userId, amount, status, reason, product_id: productId }),
    ...(lines.length > 0
      ? [
          trx('reservation_lines').insert(
            lines.map((line) => ({ order_id: orderId, product_id: line.productId, quantity: line.quantity, unit_price: line.unitPrice })),
          ),
        ]
      : []),
  ];
}

/**
 * Records the decision for an order, with its lines; false, and nothing written, when the order has a
 * row already. The primary key decides: a row another transaction committed meanwhile (an OrderCancelled
 * racing this OrderCreated) makes the insert fail as a duplicate, which only undoes that statement.
 */
export async function recordReservation(trx: Knex.Transaction, reservation: Reservation): Promise<boolean> {
  try {
    await inOneTrip(trx, reservationStatements(trx, reservation));
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}

/** The reservation of an order, locked for update, with its lines. */
export async function lockReservation(trx: Knex.Transaction, orderId: string): Promise<Reservation | undefined> {
  const row = await trx('reservations').where({ order_id: orderId }).forUpdate().first();
  if (!row) return undefined;
  const lines = await trx('reservation_lines').where({ order_id: orderId }).orderBy('product_id');
  return {
    orderId: row.order_id,
    userId: row.user_id,
    amount: Number(row.amount),
    status: row.status,
    reason: row.reason,
    productId: row.product_id,
    lines: lines.map((line) => ({
      productId: line.product_id,
      quantity: Number(line.quantity),
      unitPrice: Number(line.unit_price),
    })),
  };
}

export function markReleased(trx: Knex.Transaction, orderId: string): Statement {
  return trx('reservations')
    .where({ order_id: orderId })
    .update({ status: 'RELEASED', updated_at: trx.fn.now(6) });
}
