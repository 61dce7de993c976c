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
import { orderRoutes } from './http/order-routes.js';

export const orderSettings = baseServiceSettings.extend({
  saga: z.object({
    /** The longest `Prefer: wait=N` honoured, in seconds. */
    maxWaitSeconds: z.coerce.number().int().min(0).max(600),
    /** How often a waiting request re-reads the saga when another instance may finish it. */
    outcomePollMs: z.coerce.number().int().min(10),
  }),
});
export type OrderSettings = z.infer<typeof orderSettings>;

export function loadSettings(): Promise<OrderSettings> {
  return loadServiceConfig(packagePath(import.meta.url, 'config'), orderSettings);
}

/** The order service: saga step 1 (HTTP), step 4 (complete) and compensations C1 and C3 (delete). */
export function start(settings: OrderSettings): Promise<RunningService> {
  // The longest wait in force: the config service may change it while the service runs.
  let maxWaitSeconds = settings.saga.maxWaitSeconds;
  return startService({
    settings,
    schema: orderSettings,
    live: () => ({
      'saga.maxWaitSeconds': (s) => {
        maxWaitSeconds = s.saga.maxWaitSeconds;
      },
    }),
    version: packageVersion(import.meta.url),
    migrations: orderMigrations,
    schemaDir: packagePath(import.meta.url, 'schemas'),
    aggregateType: 'order',
    topics: [Topics.product, Topics.user],
    extend: ({ db, metrics }) => ({
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
}
