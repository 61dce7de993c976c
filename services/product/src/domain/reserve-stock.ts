import { Reasons, type OrderCreated, type Reason } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import {
  changeStock,
  hasReservation,
  insertReservation,
  lockProducts,
  type Product,
  type ReservationLine,
} from '../data/product-repository.js';

export type ReservationDecision =
  | { reserved: true; lines: ReservationLine[]; amount: number }
  | { reserved: false; reason: Reason; productId: string };

/**
 * All or nothing: every line must name a known product with enough stock, or nothing is reserved.
 * Lines of the same product are added up first (the gateway refuses them, but an event is an event).
 * The first failing line, in the order's own order, names the reason.
 */
export function decideReservation(
  items: OrderCreated['items'],
  products: Map<string, Product>,
): ReservationDecision {
  const wanted = new Map<string, number>();
  for (const { productId, quantity } of items) wanted.set(productId, (wanted.get(productId) ?? 0) + quantity);
  for (const [productId, quantity] of wanted) {
    const product = products.get(productId);
    if (!product) return { reserved: false, reason: Reasons.UNKNOWN_PRODUCT, productId };
    if (product.stock < quantity) return { reserved: false, reason: Reasons.OUT_OF_STOCK, productId };
  }
  const lines = [...wanted].map(([productId, quantity]) => ({
    productId,
    quantity,
    unitPrice: products.get(productId)!.price,
  }));
  return { reserved: true, lines, amount: lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0) };
}

/**
 * Saga step 2, inside the consumer's transaction: decrease stock for every line, or for none. Returns
 * undefined when this order has a reservation already (nothing to do, nothing to emit).
 */
export async function reserveStock(trx: Knex.Transaction, order: OrderCreated): Promise<ReservationDecision | undefined> {
  const products = await lockProducts(trx, [...new Set(order.items.map((item) => item.productId))]);
  if (await hasReservation(trx, order.orderId)) return undefined;
  const decision = decideReservation(order.items, products);
  if (!decision.reserved) return decision;
  for (const line of decision.lines) await changeStock(trx, line.productId, -line.quantity);
  await insertReservation(trx, {
    orderId: order.orderId,
    userId: order.userId,
    amount: decision.amount,
    status: 'RESERVED',
    lines: decision.lines,
  });
  return decision;
}
