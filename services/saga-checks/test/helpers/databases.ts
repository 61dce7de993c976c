import test from 'ava';
import { audit, type AuditScope } from '../../src/audit.js';
import { closeDatabases, openDatabases } from '../../src/databases.js';

/**
 * The three databases for the calling test file, closed after it: `dbs` as each service's runtime account
 * (tests read, and some write a row or hold a lock as another client would), `ddl` as its migration
 * account (a test that changes a table), and the audit as the read-only auditor, as `npm run audit` runs.
 */
export function databases() {
  const dbs = openDatabases('runtime');
  const ddl = openDatabases('migration');
  const readOnly = openDatabases('auditor');
  // No connection is made before first use (pool min 0): the accounts a file does not use cost nothing.
  test.after.always(() => Promise.all([closeDatabases(dbs), closeDatabases(ddl), closeDatabases(readOnly)]));
  return {
    dbs,
    ddl,
    /** Rows an order left in the order database: order, lines, payment. */
    async orderRows(orderId: string) {
      const [orders, lines, payments] = await Promise.all([
        dbs.order('orders').where({ id: orderId }),
        dbs.order('order_lines').where({ order_id: orderId }),
        dbs.order('payments').where({ order_id: orderId }),
      ]);
      return { orders, lines, payments };
    },
    audit: (scope: AuditScope) => audit(readOnly, scope),
  };
}
