import {
  Topics,
  packagePath,
  packageVersion,
  baseServiceSettings,
  loadServiceConfig,
  startService,
  type BaseServiceSettings,
  type RunningService,
} from '@cdc-outbox-saga/platform';
import { productMigrations } from './data/migrations.js';
import { onOrderCancelled } from './events/order-cancelled.js';
import { onOrderCreated } from './events/order-created.js';
import { onPointsDeductionFailed } from './events/points-deduction-failed.js';
import { productRoutes } from './http/product-routes.js';

export function loadSettings(): Promise<BaseServiceSettings> {
  return loadServiceConfig(packagePath(import.meta.url, 'config'), baseServiceSettings);
}

/**
 * The product service: saga step 2 (reserve stock), compensation C2 (restock), and the end of an order
 * (OrderCancelled: stock held for it goes back, none is taken for it later).
 */
export function start(settings: BaseServiceSettings): Promise<RunningService> {
  return startService({
    settings,
    version: packageVersion(import.meta.url),
    migrations: productMigrations,
    schemaDir: packagePath(import.meta.url, 'schemas'),
    aggregateType: 'product',
    topics: [Topics.order, Topics.user],
    handlers: (context) => ({
      OrderCreated: onOrderCreated(context),
      OrderCancelled: onOrderCancelled(context),
      PointsDeductionFailed: onPointsDeductionFailed(context),
    }),
    routes: productRoutes,
  });
}
