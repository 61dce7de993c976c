import type { Knex } from 'knex';
import { changeStock, lockReservation, markReleased, type Reservation } from '../data/product-repository.js';

/**
 * Compensation C2: put back the stock of every line reserved for the order. Returns the reservation
 * released now, or undefined when there is nothing (left) to release: never reserved, or released
 * already, so a second request changes nothing.
 */
export async function releaseStock(trx: Knex.Transaction, orderId: string): Promise<Reservation | undefined> {
  const reservation = await lockReservation(trx, orderId);
  if (!reservation || reservation.status === 'RELEASED') return undefined;
  for (const line of [...reservation.lines].sort((a, b) => a.productId.localeCompare(b.productId))) {
    await changeStock(trx, line.productId, line.quantity);
  }
  await markReleased(trx, orderId);
  return reservation;
}
