import { createDatabase } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';

export interface SagaDatabases {
  order: Knex;
  product: Knex;
  user: Knex;
}

/** Read access to the three service databases, with the stack's environment (or its defaults). */
export function openDatabases(): SagaDatabases {
  const open = (service: 'order' | 'product' | 'user') =>
    createDatabase({
      host: process.env.DB_HOST ?? '127.0.0.1',
      port: Number(process.env.DB_PORT ?? 3307),
      user: `${service}_svc`,
      password: process.env.DB_PASSWORD ?? 'svc-local-only',
      database: `${service}_db`,
      pool: { min: 0, max: 4 },
    });
  return { order: open('order'), product: open('product'), user: open('user') };
}

export async function closeDatabases(dbs: SagaDatabases): Promise<void> {
  await Promise.all([dbs.order.destroy(), dbs.product.destroy(), dbs.user.destroy()]);
}
