import type { EventHandler, OrderCancelled, ServiceContext } from '@cdc-outbox-saga/platform';
import { endOrder } from '../domain/release-stock.js';

/**
 * OrderCancelled → the order is over: stock still reserved for it goes back (an order ended by its
 * deadline while its stock was held), and none will be reserved for it later. Publishes nothing: the
 * saga has ended, and StockReleased would only tell the order service what it decided itself.
 */
export function onOrderCancelled({ logger }: ServiceContext): EventHandler {
  return async (event, trx) => {
    const cancelled = event.payload as OrderCancelled;
    const end = await endOrder(trx, cancelled);
    const fields = { orderId: cancelled.orderId, reason: cancelled.reason, eventId: event.eventId, end };
    if (end === 'released') logger.info(fields, 'order cancelled while its stock was reserved: stock put back');
    else logger.debug(fields, 'order cancelled; no stock held for it');
  };
}
