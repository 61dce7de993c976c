import { createDatabase } from '@cdc-outbox-saga/platform';
import { accountPassword, settings } from '@cdc-outbox-saga/local-stack';
import type { Knex } from 'knex';

export interface SagaDatabases {
  order: Knex;
  product: Knex;
  user: Knex;
}

/**
 * Whose rights the connections have: `auditor` reads the three databases and writes nothing (the audit,
 * the tests' reads); `runtime` is each service's own account (rows only), `migration` its migration
 * account (DDL too), for a test or a benchmark that must write rows or change a table as the service could.
 */
export type DatabaseRole = 'auditor' | 'runtime' | 'migration';

/**
 * The three service databases of the native stack, as `role` (read-only unless asked), with the stack's
 * settings and its generated passwords (.stack/secrets).
 */
export function openDatabases(role: DatabaseRole = 'auditor'): SagaDatabases {
  const open = (service: keyof SagaDatabases) => {
    const database = settings.databases.find((d) => d.service === service);
    if (!database) throw new Error(`no database for the service ${service} in the stack's settings`);
    const account = role === 'auditor' ? settings.credentials.auditor : database[role];
    return createDatabase({
      host: settings.host,
      port: settings.ports.mariadb,
      user: account.user,
      password: accountPassword(account),
      database: database.name,
      pool: { min: 0, max: 4 },
    });
  };
  return { order: open('order'), product: open('product'), user: open('user') };
}

export async function closeDatabases(dbs: SagaDatabases): Promise<void> {
  await Promise.all([dbs.order.destroy(), dbs.product.destroy(), dbs.user.destroy()]);
}
