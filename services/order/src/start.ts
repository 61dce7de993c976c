import {
  Topics,
  packagePath,
  packageVersion,
  baseServiceSettings,
  loadServiceConfig,
  startService,
  type RunningService,
} from '@cdc-outbox-saga/platform';
import { z } from 'zod';
import { orderMigrations } from './data/migrations.js';
import { SagaMetrics } from './domain/saga-metrics.js';
import { SagaOutcomes } from './domain/saga-outcomes.js';
import { onPointsDeducted } from './events/points-deducted.js';
import { onOrderFailed } from './events/order-failed.js';
import { DeadlineSweeper } from './events/saga-deadline.js';
import type { OutcomeReporting } from './events/saga-finished.js';
import { orderRoutes } from './http/order-routes.js';

export const orderSettings = baseServiceSettings.extend({
  saga: z.object({
    /** The longest `Prefer: wait=N` honoured, in seconds. */
    maxWaitSeconds: z.coerce.number().int().min(0).max(600),
    /** How often a waiting request re-reads the saga when another instance may finish it. */
    outcomePollMs: z.coerce.number().int().min(10),
    /**
     * A saga still PENDING this long after its order was placed is cancelled with SAGA_TIMEOUT, and what
     * the other services hold for it goes back. Well above the longest outage the saga should ride out:
     * a step waiting on a restarting component completes on its own once it is back.
     */
    deadlineSeconds: z.coerce.number().int().min(1),
    /** How often each instance looks for sagas past the deadline. */
    sweepIntervalMs: z.coerce.number().int().min(100),
  }),
});
export type OrderSettings = z.infer<typeof orderSettings>;

export function loadSettings(): Promise<OrderSettings> {
  return loadServiceConfig(packagePath(import.meta.url, 'config'), orderSettings);
}

/**
 * The order service: saga step 1 (HTTP), step 4 (complete), compensations C1 and C3 (delete), and the
 * saga's deadline (a saga PENDING too long is cancelled like C1/C3).
 */
export async function start(settings: OrderSettings): Promise<RunningService> {
  // Live settings: the config service may change them while the service runs.
  let maxWaitSeconds = settings.saga.maxWaitSeconds;
  let deadlineSeconds = settings.saga.deadlineSeconds;
  let reporting: OutcomeReporting | undefined;
  const service = await startService({
    settings,
    schema: orderSettings,
    live: () => ({
      'saga.maxWaitSeconds': (s) => {
        maxWaitSeconds = s.saga.maxWaitSeconds;
      },
      'saga.deadlineSeconds': (s) => {
        deadlineSeconds = s.saga.deadlineSeconds;
      },
    }),
    version: packageVersion(import.meta.url),
    migrations: orderMigrations,
    schemaDir: packagePath(import.meta.url, 'schemas'),
    aggregateType: 'order',
    topics: [Topics.product, Topics.user],
    extend: ({ db, metrics }) =>
      (reporting = {
        outcomes: new SagaOutcomes(db, settings.saga.outcomePollMs),
        sagaMetrics: new SagaMetrics(metrics),
      }),
    handlers: (context) => ({
      PointsDeducted: onPointsDeducted(context),
      StockReservationFailed: onOrderFailed(context),
      StockReleased: onOrderFailed(context),
    }),
    routes: orderRoutes(() => maxWaitSeconds),
  });
  const sweeper = new DeadlineSweeper({
    db: service.db,
    outbox: service.outbox,
    logger: service.logger,
    reporting: reporting!,
    deadlineSeconds: () => deadlineSeconds,
    intervalMs: settings.saga.sweepIntervalMs,
  }).start();
  return {
    ...service,
    async stop() {
      // Before the database goes: a round in flight commits or rolls back first.
      await sweeper.stop();
      await service.stop();
    },
  };
}
