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
import { userMigrations } from './data/migrations.js';
import { onOrderCancelled } from './events/order-cancelled.js';
import { onStockReserved } from './events/stock-reserved.js';
import { userRoutes } from './http/user-routes.js';

export function loadSettings(): Promise<BaseServiceSettings> {
  return loadServiceConfig(packagePath(import.meta.url, 'config'), baseServiceSettings);
}

/**
 * The user service: saga step 3 (deduct points), and the end of an order (OrderCancelled: points taken for
 * it go back, none are taken for it later).
 */
export function start(settings: BaseServiceSettings): Promise<RunningService> {
  return startService({
    settings,
    version: packageVersion(import.meta.url),
    migrations: userMigrations,
    schemaDir: packagePath(import.meta.url, 'schemas'),
    aggregateType: 'user',
    topics: [Topics.product, Topics.order],
    handlers: (context) => ({ StockReserved: onStockReserved(context), OrderCancelled: onOrderCancelled(context) }),
    routes: userRoutes,
  });
}
