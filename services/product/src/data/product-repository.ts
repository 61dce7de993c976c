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

export interface Reservation {
  orderId: string;
  userId: string;
  amount: number;
  status: 'RESERVED' | 'RELEASED';
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

export async function changeStock(trx: Knex.Transaction, productId: string, delta: number): Promise<void> {
  await trx('products')
    .where({ id: productId })
    .update({ stock: trx.raw('stock + ?', [delta]), updated_at: trx.fn.now(6) });
}

export async function insertReservation(trx: Knex.Transaction, reservation: Reservation): Promise<void> {
  const { orderId, userId, amount, status, lines } = reservation;
  await trx('reservations').insert({ order_id: orderId, user_id: userId, amount, status });
  await trx('reservation_lines').insert(
    lines.map((line) => ({ order_id: orderId, product_id: line.productId, quantity: line.quantity, unit_price: line.unitPrice })),
  );
}

export async function hasReservation(trx: Knex.Transaction, orderId: string): Promise<boolean> {
  return (await trx('reservations').where({ order_id: orderId }).first('order_id')) !== undefined;
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
    lines: lines.map((line) => ({
      productId: line.product_id,
      quantity: Number(line.quantity),
      unitPrice: Number(line.unit_price),
    })),
  };
}

export async function markReleased(trx: Knex.Transaction, orderId: string): Promise<void> {
  await trx('reservations').where({ order_id: orderId }).update({ status: 'RELEASED', updated_at: trx.fn.now(6) });
}
