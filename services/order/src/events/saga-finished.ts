import type { ServiceContext } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import type { SagaMetrics } from '../domain/saga-metrics.js';
import type { SagaOutcomes } from '../domain/saga-outcomes.js';

/** What the order service adds to the common context: outcome announcements and saga metrics. */
export interface OutcomeReporting {
  outcomes: SagaOutcomes;
  sagaMetrics: SagaMetrics;
}

export type OrderContext = ServiceContext & OutcomeReporting;

export function reportAfterCommit(
  { outcomes, sagaMetrics }: OutcomeReporting,
  trx: Knex.Transaction,
  orderId: string,
  status: 'COMPLETED' | 'CANCELLED',
  reason: string,
  startedAt: Date,
): void {
  outcomes.announceAfterCommit(trx, orderId);
  trx.executionPromise.then(
    () => sagaMetrics.record(status, reason, startedAt),
    () => undefined,
  );
}
