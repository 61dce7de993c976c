import type { EventHandler, PointsDeductionFailed, ServiceContext } from '@cdc-outbox-saga/platform';
import { releaseStock } from '../domain/release-stock.js';

/** PointsDeductionFailed → compensation C2 (restock every line) → StockReleased{reason}. */
export function onPointsDeductionFailed({ outbox, logger }: ServiceContext): EventHandler {
  return async (event, trx) => {
    const failure = event.payload as PointsDeductionFailed;
    const released = await releaseStock(trx, failure.orderId);
    if (!released) {
      logger.warn({ orderId: failure.orderId, eventId: event.eventId }, 'no reserved stock to release');
      return;
    }
    await outbox.write(trx, {
      type: 'StockReleased',
      aggregateId: failure.orderId,
      payload: {
        orderId: failure.orderId,
        userId: failure.userId,
        reason: failure.reason,
        amount: released.amount,
        occurredAt: Date.now(),
      },
      traceparent: event.traceparent,
    });
  };
}
