import type { SagaDatabases } from './databases.js';

/** One broken invariant. */
export interface Finding {
  check: string;
  subject: string;
  message: string;
}

export interface AuditScope {
  /** Only these orders / products / users (default: all of them). */
  orderIds?: string[];
  productIds?: string[];
  userIds?: string[];
  /** A saga still PENDING this long after it started is reported as stuck. */
  pendingGraceSeconds?: number;
  /**
   * The order service's `saga.deadlineSeconds`: a saga PENDING for longer (plus `DEADLINE_SLACK_SECONDS`
   * for the sweep to come round) was not ended by its deadline, which is reported whatever the grace.
   */
  deadlineSeconds?: number;
}

/** How long past its deadline a saga may still be PENDING: the sweep runs every few seconds. */
export const DEADLINE_SLACK_SECONDS = 10;

interface Saga {
  order_id: string;
  user_id: string;
  status: 'PENDING' | 'COMPLETED' | 'CANCELLED';
  amount: string | number | null;
  items: string;
  created_at: Date;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const group = <T, K>(rows: T[], key: (row: T) => K) => {
  const map = new Map<K, T[]>();
  for (const row of rows) map.set(key(row), [...(map.get(key(row)) ?? []), row]);
  return map;
};

/**
 * Reads the three databases and reports every way they disagree with the saga's outcomes. The product and
 * user services keep one row per order for each decision (reservations: RESERVED, RELEASED, REFUSED,
 * CANCELLED; point_deductions: DEDUCTED, REFUSED, REFUNDED, CANCELLED); only RESERVED holds stock and only
 * DEDUCTED holds points.
 * - a COMPLETED order without its order row, payment, RESERVED reservation and DEDUCTED points, all for its amount;
 * - a CANCELLED order with rows left (order, lines, payment), stock still reserved or points still deducted;
 * - a saga PENDING for longer than the grace period (nothing should be in flight on a quiet system), or
 *   past its deadline (the order service should have cancelled it);
 * - a refusal or cancellation row that holds reservation lines;
 * - a product whose stock moved (received - current) differs from its completed and in-flight quantities;
 * - a user whose points moved (granted - current) differ from their completed and in-flight amounts.
 */
export async function audit(dbs: SagaDatabases, scope: AuditScope = {}): Promise<Finding[]> {
  const findings: Finding[] = [];
  const report = (check: string, subject: string, message: string) => findings.push({ check, subject, message });
  const grace = (scope.pendingGraceSeconds ?? 30) * 1000;
  const deadline = scope.deadlineSeconds === undefined ? undefined : (scope.deadlineSeconds + DEADLINE_SLACK_SECONDS) * 1000;

  const [sagas, orders, payments, lines, reservations, reservationLines, deductions, products, users] = await Promise.all([
    dbs.order('sagas').select<Saga[]>('order_id', 'user_id', 'status', 'amount', 'items', 'created_at'),
    dbs.order('orders').select('id', 'status', 'amount'),
    dbs.order('payments').select('order_id', 'status', 'amount'),
    dbs.order('order_lines').select('order_id', 'product_id', 'quantity'),
    dbs.product('reservations').select('order_id', 'status', 'amount'),
    dbs.product('reservation_lines').select('order_id', 'product_id', 'quantity'),
    dbs.user('point_deductions').select('order_id', 'user_id', 'amount', 'status'),
    dbs.product('products').select('id', 'stock', 'stock_received'),
    dbs.user('users').select('id', 'points', 'points_granted'),
  ]);
  const byId = <T extends Record<string, unknown>>(rows: T[], key: keyof T) => new Map(rows.map((r) => [r[key] as string, r]));
  const orderRows = byId(orders, 'id');
  const paymentRows = byId(payments, 'order_id');
  const lineRows = group(lines, (l) => l.order_id as string);
  const reservationRows = byId(reservations, 'order_id');
  const reservedLines = group(reservationLines, (l) => l.order_id as string);
  const deductionRows = byId(deductions, 'order_id');
  const sagaRows = new Map(sagas.map((s) => [s.order_id, s]));
  const inScope = scope.orderIds ? new Set(scope.orderIds) : undefined;

  for (const saga of sagas) {
    if (inScope && !inScope.has(saga.order_id)) continue;
    const id = saga.order_id;
    const amount = num(saga.amount);
    const order = orderRows.get(id);
    const payment = paymentRows.get(id);
    const reservation = reservationRows.get(id);
    const deduction = deductionRows.get(id);
    if (saga.status === 'COMPLETED') {
      if (order?.status !== 'COMPLETED' || num(order.amount) !== amount)
        report('completed-order', id, `order row ${JSON.stringify(order)}`);
      if (payment?.status !== 'COMPLETED' || num(payment.amount) !== amount)
        report('completed-payment', id, `payment ${JSON.stringify(payment)}`);
      if (reservation?.status !== 'RESERVED' || num(reservation.amount) !== amount)
        report('completed-stock', id, `reservation ${JSON.stringify(reservation)}`);
      if (deduction?.status !== 'DEDUCTED' || num(deduction.amount) !== amount) {
        report('completed-points', id, `deduction ${JSON.stringify(deduction)} for amount ${amount}`);
      }
      const wanted = (JSON.parse(saga.items) as Array<{ productId: string; quantity: number }>)
        .map((i) => `${i.productId}:${i.quantity}`)
        .sort();
      const reserved = (reservedLines.get(id) ?? []).map((l) => `${l.product_id}:${l.quantity}`).sort();
      if (wanted.join() !== reserved.join()) report('completed-lines', id, `ordered ${wanted} but reserved ${reserved}`);
    } else if (saga.status === 'CANCELLED') {
      if (order || payment || lineRows.has(id)) report('cancelled-leftovers', id, 'order, lines or payment rows left behind');
      if (reservation?.status === 'RESERVED') report('cancelled-stock', id, 'stock still reserved');
      if (deduction?.status === 'DEDUCTED') report('cancelled-points', id, `points still deducted: ${deduction.amount}`);
    } else {
      const age = Date.now() - saga.created_at.getTime();
      if (deadline !== undefined && age > deadline) {
        report('past-deadline', id, `PENDING since ${saga.created_at.toISOString()}, past the ${scope.deadlineSeconds} s deadline`);
      } else if (age > grace) {
        report('stuck-pending', id, `PENDING since ${saga.created_at.toISOString()}`);
      }
    }
  }
  for (const reservation of reservations) {
    const id = reservation.order_id as string;
    if ((!inScope || inScope.has(id)) && ['REFUSED', 'CANCELLED'].includes(reservation.status as string) && reservedLines.has(id)) {
      report('refusal-with-lines', id, `a ${reservation.status} reservation holds lines`);
    }
  }
  for (const [id] of orderRows) {
    if ((!inScope || inScope.has(id)) && !sagaRows.has(id)) report('orphan-order', id, 'order row without a saga record');
  }

  // Stock and points: what moved must be what completed (plus what is still in flight).
  const live = (orderId: string) => {
    const status = sagaRows.get(orderId)?.status;
    return status === 'COMPLETED' || status === 'PENDING';
  };
  const productScope = scope.productIds ? new Set(scope.productIds) : undefined;
  const movedByProduct = new Map<string, number>();
  for (const line of reservationLines) {
    if (reservationRows.get(line.order_id as string)?.status !== 'RESERVED') continue;
    const id = line.order_id as string;
    // Scoped like the checks above: the three databases are read at slightly different moments, so an order
    // outside the scope, placed or finished in between, may look orphaned while it is not.
    if ((!inScope || inScope.has(id)) && !live(id)) report('orphan-reservation', id, 'stock reserved for an order that is not live');
    movedByProduct.set(line.product_id as string, (movedByProduct.get(line.product_id as string) ?? 0) + Number(line.quantity));
  }
  const completedByProduct = new Map<string, number>();
  for (const saga of sagas) {
    if (saga.status !== 'COMPLETED' && !(saga.status === 'PENDING' && reservationRows.get(saga.order_id)?.status === 'RESERVED')) continue;
    for (const item of JSON.parse(saga.items) as Array<{ productId: string; quantity: number }>) {
      completedByProduct.set(item.productId, (completedByProduct.get(item.productId) ?? 0) + item.quantity);
    }
  }
  for (const product of products) {
    const id = product.id as string;
    if (productScope && !productScope.has(id)) continue;
    const stock = Number(product.stock);
    const moved = Number(product.stock_received) - stock;
    if (stock < 0) report('negative-stock', id, `stock ${stock}`);
    if (moved !== (movedByProduct.get(id) ?? 0))
      report('stock-ledger', id, `stock moved ${moved}, reservations hold ${movedByProduct.get(id) ?? 0}`);
    if (moved !== (completedByProduct.get(id) ?? 0))
      report('stock-vs-orders', id, `stock moved ${moved}, completed orders took ${completedByProduct.get(id) ?? 0}`);
  }

  const userScope = scope.userIds ? new Set(scope.userIds) : undefined;
  const deductedByUser = new Map<string, number>();
  for (const deduction of deductions) {
    if (deduction.status !== 'DEDUCTED') continue;
    if (!live(deduction.order_id as string))
      report('orphan-deduction', deduction.order_id as string, 'points deducted for an order that is not live');
    deductedByUser.set(deduction.user_id as string, (deductedByUser.get(deduction.user_id as string) ?? 0) + Number(deduction.amount));
  }
  const paidByUser = new Map<string, number>();
  for (const saga of sagas) {
    const paid = saga.status === 'COMPLETED' || (saga.status === 'PENDING' && deductionRows.get(saga.order_id)?.status === 'DEDUCTED');
    if (paid)
      paidByUser.set(
        saga.user_id,
        (paidByUser.get(saga.user_id) ?? 0) + (num(saga.amount) ?? num(deductionRows.get(saga.order_id)?.amount) ?? 0),
      );
  }
  for (const user of users) {
    const id = user.id as string;
    if (userScope && !userScope.has(id)) continue;
    const points = Number(user.points);
    const moved = Number(user.points_granted) - points;
    if (points < 0) report('negative-points', id, `points ${points}`);
    if (moved !== (deductedByUser.get(id) ?? 0))
      report('points-ledger', id, `points moved ${moved}, deductions ${deductedByUser.get(id) ?? 0}`);
    if (moved !== (paidByUser.get(id) ?? 0))
      report('points-vs-orders', id, `points moved ${moved}, completed orders cost ${paidByUser.get(id) ?? 0}`);
  }
  return findings;
}
