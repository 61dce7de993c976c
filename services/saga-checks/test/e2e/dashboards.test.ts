import test from 'ava';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { dashboardFiles, dashboardProblems, grafanaExpr, panelQueries, provisionedDatasourceUids } from '../helpers/grafana.js';
import { query } from '../helpers/prometheus.js';

const dashboards = dashboardFiles();

test("every dashboard follows Grafana's dashboard JSON model and queries the provisioned Prometheus datasource", (t) => {
  const uids = provisionedDatasourceUids();
  t.is(uids.length, 1, `one provisioned datasource: ${JSON.stringify(uids)}`);
  t.deepEqual(
    dashboards.map((d) => d.file),
    ['cdc-pipeline.json', 'saga-overview.json', 'services.json'],
  );
  for (const { file, dashboard } of dashboards) t.deepEqual(dashboardProblems(dashboard, uids[0]!), [], file);
  const unique = (values: string[]) => new Set(values).size === values.length;
  t.true(unique(dashboards.map((d) => d.dashboard.uid)), 'dashboard uids are unique');
  t.true(unique(dashboards.map((d) => d.dashboard.title)), 'dashboard titles are unique');
});

/** Two orders of each outcome the saga has without a fault: completed, and cancelled for each reason. */
async function placeOrdersOfEachOutcome(): Promise<string[]> {
  const outcomes: string[] = [];
  const place = async (buyer: string, product: string, quantity: number) => {
    const { body } = await placeOrder(buyer, [{ productId: product, quantity }]);
    outcomes.push(body.reason ?? body.status);
  };
  for (let round = 0; round < 2; round++) {
    const userId = await createUser(30);
    const productId = await createProduct(20, 10);
    await place(userId, productId, 1); // COMPLETED: 20 of the 30 points
    await place(userId, productId, 11); // OUT_OF_STOCK
    await place(userId, productId, 1); // INSUFFICIENT_POINTS: 20 of the 10 left
    await place(randomUUID(), productId, 1); // UNKNOWN_USER
    await place(userId, randomUUID(), 1); // UNKNOWN_PRODUCT
  }
  return outcomes;
}

test('after orders of each outcome, every panel query of every dashboard returns series from the native Prometheus', async (t) => {
  const outcomes = await placeOrdersOfEachOutcome();
  const each = ['COMPLETED', 'OUT_OF_STOCK', 'INSUFFICIENT_POINTS', 'UNKNOWN_USER', 'UNKNOWN_PRODUCT'];
  t.deepEqual(outcomes, [...each, ...each]);
  const pending = new Map(
    dashboards.flatMap(({ file, dashboard }) =>
      panelQueries(dashboard).map((q) => [`${file} panel ${q.panel} ${q.refId}`, grafanaExpr(q.expr, dashboard)] as const),
    ),
  );
  t.true(pending.size > 0);
  // Targets are scraped every 5 s, consumer lag and DLQ counts read every 10 s: a query without series is
  // asked again until the deadline.
  const deadline = Date.now() + 90_000;
  for (;;) {
    for (const [where, promql] of pending) {
      if ((await query(promql)).length > 0) pending.delete(where);
    }
    if (pending.size === 0 || Date.now() > deadline) break;
    await sleep(2000);
  }
  t.deepEqual(
    [...pending].map(([where, promql]) => `${where}: ${promql}`),
    [],
    'queries that returned no series',
  );
});
