import type { EventHandler, StockReleased, StockReservationFailed } from '@cdc-outbox-saga/platform';
import { cancelOrder } from '../domain/finish-order.js';
import { reportAfterCommit, type OrderContext } from './saga-finished.js';

/**
 * StockReservationFailed → C1, and StockReleased → C3: delete the order, its lines and payment, record
 * the reason, publish OrderCancelled. Nothing was reserved in C1; in C3 the stock is back already.
 */
export function onOrderFailed(context: OrderContext): EventHandler {
  const { outbox, logger } = context;
  return async (event, trx) => {
    const failure = event.payload as StockReservationFailed | StockReleased;
    const amount = 'amount' in failure ? failure.amount : null;
    const finished = await cancelOrder(trx, outbox, { ...failure, amount, traceparent: event.traceparent });
    if (!finished) {
      logger.warn({ orderId: failure.orderId, eventId: event.eventId, type: event.eventType }, 'saga already finished; event ignored');
      return;
    }
    reportAfterCommit(context, trx, failure.orderId, finished);
  };
}
