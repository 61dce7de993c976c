import type { EventHandler, OrderCancelled, ServiceContext } from '@cdc-outbox-saga/platform';
import { endOrder } from '../domain/deduct-points.js';

/**
 * OrderCancelled → the order is over: points deducted for it go back (an order ended by its deadline after
 * the deduction), and none will be deducted for it later. Publishes nothing: the saga has ended.
 */
export function onOrderCancelled({ logger }: ServiceContext): EventHandler {
  return async (event, trx) => {
    const cancelled = event.payload as OrderCancelled;
    const end = await endOrder(trx, cancelled);
    const fields = { orderId: cancelled.orderId, reason: cancelled.reason, eventId: event.eventId, end };
    if (end === 'refunded') logger.info(fields, 'order cancelled after its points were deducted: points given back');
    else logger.debug(fields, 'order cancelled; no points held for it');
  };
}
