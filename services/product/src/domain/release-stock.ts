import type { OrderCancelled } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import { inOneTrip } from '@cdc-outbox-saga/platform';
import { changeStock, lockReservation, markReleased, recordReservation, type Reservation } from '../data/product-repository.js';

/**
 * Compensation C2: put back the stock of every line reserved for the order. Returns the reservation
 * released now, or undefined when nothing is held: never reserved (refused, cancelled, unknown), or
 * released already, so a second request changes nothing.
 */
export async function releaseStock(trx: Knex.Transaction, orderId: string): Promise<Reservation | undefined> {
  const reservation = await lockReservation(trx, orderId);
  if (reservation?.status !== 'RESERVED') return undefined;
  await inOneTrip(trx, [
    ...changeStock(
      trx,
      reservation.lines.map((line) => ({ productId: line.productId, delta: line.quantity })),
    ),
    markReleased(trx, orderId),
  ]);
  return reservation;
}

export type OrderEnd = 'cancelled-before-decision' | 'released' | 'nothing-held';

/**
 * The order ended (OrderCancelled, whatever the reason): whatever stock is held for it goes back, and none
 * will be taken for it later, whichever of OrderCancelled and a late OrderCreated comes first.
 * - no row yet: a CANCELLED row is recorded, and a late OrderCreated then finds it and reserves nothing;
 * - RESERVED: the stock goes back exactly as in C2 (RELEASED);
 * - REFUSED, RELEASED, CANCELLED: nothing is held (C1 and C3 cancellations always end here).
 * The CANCELLED row is inserted first, not looked for: a look for a missing row would lock the gap around
 * it, and every OrderCreated inserting into that gap meanwhile would wait.
 */
export async function endOrder(trx: Knex.Transaction, order: OrderCancelled): Promise<OrderEnd> {
  const cancelled: Reservation = {
    orderId: order.orderId,
    userId: order.userId,
    status: 'CANCELLED',
    amount: 0,
    reason: order.reason,
    productId: null,
    lines: [],
  };
  if (await recordReservation(trx, cancelled)) return 'cancelled-before-decision';
  return (await releaseStock(trx, order.orderId)) ? 'released' : 'nothing-held';
}
