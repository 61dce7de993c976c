import type { EventHandler, OrderCreated, ServiceContext } from '@cdc-outbox-saga/platform';
import { reserveStock } from '../domain/reserve-stock.js';

/** OrderCreated → reserve stock → StockReserved or StockReservationFailed, in one transaction. */
export function onOrderCreated({ outbox, logger }: ServiceContext): EventHandler {
  return async (event, trx) => {
    const order = event.payload as OrderCreated;
    const decision = await reserveStock(trx, outbox, order, event.traceparent);
    if (!decision) {
      // A replay, or the order ended by its deadline before this event came: the recorded decision stands.
      logger.warn(
        { orderId: order.orderId, eventId: event.eventId },
        'a stock decision is recorded for this order already; OrderCreated ignored',
      );
    }
  };
}
