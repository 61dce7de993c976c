import type { ServiceContext } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import type { Finished } from '../domain/finish-order.js';
import type { SagaMetrics } from '../domain/saga-metrics.js';
import type { SagaOutcomes } from '../domain/saga-outcomes.js';

/** What the order service adds to the common context: outcome announcements and saga metrics. */
export interface OutcomeReporting {
  outcomes: SagaOutcomes;
  sagaMetrics: SagaMetrics;
}

export type OrderContext = ServiceContext & OutcomeReporting;

/** Once `trx` commits: the outcome to whoever waits for it here, and to the saga metrics. */
export function reportAfterCommit(
  { outcomes, sagaMetrics }: OutcomeReporting,
  trx: Knex.Transaction,
  orderId: string,
  finished: Finished,
): void {
  const { startedAt, outcome } = finished;
  outcomes.announceAfterCommit(trx, orderId, outcome);
  trx.executionPromise.then(
    () => sagaMetrics.record(outcome.status, outcome.reason ?? 'NONE', startedAt),
    () => undefined,
  );
}
