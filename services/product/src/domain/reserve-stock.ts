import { isDuplicateKey, Reasons, type OrderCreated, type OutboxEvent, type OutboxWriter, type Reason } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import {
  changeStock,
  lockProducts,
  reservationStatements,
  type Product,
  type Reservation,
  type ReservationLine,
} from '../data/product-repository.js';

export type ReservationDecision =
  { reserved: true; lines: ReservationLine[]; amount: number } | { reserved: false; reason: Reason; productId: string };

/**
 * All or nothing: every line must name a known product with enough stock, or nothing is reserved.
 * Lines of the same product are added up first (the order API refuses them, but an event is an event).
 * The first failing line, in the order's own order, names the reason.
 */
export function decideReservation(items: OrderCreated['items'], products: Map<string, Product>): ReservationDecision {
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
 * Saga step 2, inside the consumer's transaction: decrease stock for every line, or for none, and publish
 * StockReserved or StockReservationFailed. The decision is recorded either way, so that a replay of this
 * OrderCreated at any age finds it and does nothing, even if stock came back meanwhile. After the locking
 * read, the decision, the stock and the outbox row go in one round trip, the decision's row first: when
 * the order has a row already (decided before, or cancelled by its deadline) its primary key refuses it,
 * nothing after it runs, and undefined is returned: nothing to do, nothing to emit.
 */
export async function reserveStock(
  trx: Knex.Transaction,
  outbox: OutboxWriter,
  order: OrderCreated,
  traceparent: string | null,
): Promise<ReservationDecision | undefined> {
  const products = await lockProducts(trx, [...new Set(order.items.map((item) => item.productId))]);
  const decision = decideReservation(order.items, products);
  const writes = [
    ...reservationStatements(trx, reservationRecord(order, decision)),
    ...(decision.reserved
      ? changeStock(
          trx,
          decision.lines.map((line) => ({ productId: line.productId, delta: -line.quantity })),
        )
      : []),
  ];
  try {
    await outbox.write(trx, decisionEvent(order, decision, traceparent), writes);
  } catch (error) {
    if (isDuplicateKey(error)) return undefined;
    throw error;
  }
  return decision;
}

/** What step 2 publishes for a decision. */
function decisionEvent(order: OrderCreated, decision: ReservationDecision, traceparent: string | null): OutboxEvent {
  const common = { orderId: order.orderId, userId: order.userId, occurredAt: Date.now() };
  return decision.reserved
    ? {
        type: 'StockReserved',
        aggregateId: order.orderId,
        payload: { ...common, amount: decision.amount, lines: decision.lines },
        traceparent,
      }
    : {
        type: 'StockReservationFailed',
        aggregateId: order.orderId,
        payload: { ...common, reason: decision.reason, productId: decision.productId },
        traceparent,
      };
}
