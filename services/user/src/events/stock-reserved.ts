import type { EventHandler, ServiceContext, StockReserved } from '@cdc-outbox-saga/platform';
import { deductPoints } from '../domain/deduct-points.js';

/** StockReserved → deduct points → PointsDeducted or PointsDeductionFailed, in one transaction. */
export function onStockReserved({ outbox, logger }: ServiceContext): EventHandler {
  return async (event, trx) => {
    const stock = event.payload as StockReserved;
    const decision = await deductPoints(trx, outbox, stock, event.traceparent);
    if (!decision) {
      // A replay, or the order ended by its deadline before this event came: the recorded decision stands.
      logger.warn(
        { orderId: stock.orderId, eventId: event.eventId },
        'a points decision is recorded for this order already; StockReserved ignored',
      );
    }
  };
}
