import test from 'ava';
import { audit, type AuditScope } from '../../src/audit.js';
import { closeDatabases, openDatabases } from '../../src/databases.js';

/** The three databases for the calling test file, closed after it. */
export function databases() {
  const dbs = openDatabases();
  test.after.always(() => closeDatabases(dbs));
  return {
    dbs,
    /** Rows an order left in the order database: order, lines, payment. */
    async orderRows(orderId: string) {
      const [orders, lines, payments] = await Promise.all([
        dbs.order('orders').where({ id: orderId }),
        dbs.order('order_lines').where({ order_id: orderId }),
        dbs.order('payments').where({ order_id: orderId }),
      ]);
      return { orders, lines, payments };
    },
    audit: (scope: AuditScope) => audit(dbs, scope),
  };
}
