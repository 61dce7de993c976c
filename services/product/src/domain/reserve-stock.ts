import { Reasons, type OrderCreated, type Reason } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import {
  changeStock,
  lockProducts,
  recordReservation,
  type Product,
  type Reservation,
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

/** The row that records a decision: a refusal keeps its reason and takes nothing (amount 0, no lines). */
export function reservationRecord(order: Pick<OrderCreated, 'orderId' | 'userId'>, decision: ReservationDecision): Reservation {
  const common = { orderId: order.orderId, userId: order.userId };
  return decision.reserved
    ? { ...common, status: 'RESERVED', amount: decision.amount, reason: null, productId: null, lines: decision.lines }
    : { ...common, status: 'REFUSED', amount: 0, reason: decision.reason, productId: decision.productId, lines: [] };
}

/**
 * Saga step 2, inside the consumer's transaction: decrease stock for every line, or for none. The
 * decision is recorded either way, before any stock moves, so that a replay of this OrderCreated at any
 * age finds it and does nothing, even if stock came back meanwhile. Returns undefined when the order has
 * a row already (decided before, or cancelled by its deadline): nothing to do, nothing to emit.
 */
export async function reserveStock(trx: Knex.Transaction, order: OrderCreated): Promise<ReservationDecision | undefined> {
  const products = await lockProducts(trx, [...new Set(order.items.map((item) => item.productId))]);
  const decision = decideReservation(order.items, products);
  // The order's primary key answers a replay (or a cancellation recorded first): no read needed before.
  if (!(await recordReservation(trx, reservationRecord(order, decision)))) return undefined;
  if (decision.reserved) await changeStock(trx, decision.lines.map((line) => ({ productId: line.productId, delta: -line.quantity })));
  return decision;
}
