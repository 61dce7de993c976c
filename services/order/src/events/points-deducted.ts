import type { EventHandler, PointsDeducted } from '@cdc-outbox-saga/platform';
import { completeOrder } from '../domain/finish-order.js';
import { reportAfterCommit, type OrderContext } from './saga-finished.js';

/** PointsDeducted → step 4: order and payment COMPLETED → OrderCompleted. */
export function onPointsDeducted(context: OrderContext): EventHandler {
  const { outbox, logger } = context;
  return async (event, trx) => {
    const deducted = event.payload as PointsDeducted;
    const finished = await completeOrder(trx, outbox, { ...deducted, traceparent: event.traceparent });
    if (!finished) {
      logger.warn({ orderId: deducted.orderId, eventId: event.eventId }, 'saga already finished; PointsDeducted ignored');
      return;
    }
    reportAfterCommit(context, trx, deducted.orderId, finished);
  };
}
