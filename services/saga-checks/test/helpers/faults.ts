import type { ExecutionContext } from 'ava';
import { serviceInstanceNames } from '@cdc-outbox-saga/local-stack';
import { audit } from '../../src/audit.js';
import type { SagaDatabases } from '../../src/databases.js';
import { createProduct, createUser } from './api.js';
import { burst, dlqDepth, waitUntilFinished, type BurstResult, type PlannedOrder } from './burst.js';
import { gatewayInstances, waitFor } from './discovery.js';

/** Every configured instance UP in Eureka and routed to by the gateway: the stack whole again. */
export async function stackWhole(): Promise<void> {
  const counts = (service: string) => serviceInstanceNames().filter((name) => name.startsWith(`${service}-`)).length;
  await waitFor(
    'the gateway routing to every configured instance',
    () => gatewayInstances().catch(() => ({}) as Record<string, number>),
    (n) => ['order', 'product', 'user'].every((service) => n[service] === counts(service)),
    120_000,
  );
}

/** Users and products with stock and points enough for every order of a burst to complete. */
export interface Shop {
  userIds: string[];
  productIds: string[];
  stock: number;
  points: number;
  price: number;
}

export async function openShop(users = 8, products = 8): Promise<Shop> {
  const shop = { stock: 100_000, points: 1_000_000, price: 3 };
  const userIds = await Promise.all(Array.from({ length: users }, () => createUser(shop.points)));
  const productIds = await Promise.all(Array.from({ length: products }, () => createProduct(shop.price, shop.stock)));
  return { ...shop, userIds, productIds };
}

/** `count` one-unit orders spread over the shop's users and products. */
export function planOrders(shop: Shop, count: number): PlannedOrder[] {
  return Array.from({ length: count }, (_, i) => ({
    userId: shop.userIds[i % shop.userIds.length]!,
    items: [{ productId: shop.productIds[(i * 7 + 3) % shop.productIds.length]!, quantity: 1 }],
  }));
}

/**
 * Runs a burst with `fault` injected while it runs, and checks what the issue asks of every fault: every
 * accepted order COMPLETED, stock and points moved by exactly the completed orders, the audit clean,
 * nothing new on a DLQ. `place` puts the load on (by default 16 clients in a closed loop). Returns the
 * accepted orders' ids and the burst's figures for the test's log.
 */
export async function burstThrough(
  t: ExecutionContext,
  dbs: SagaDatabases,
  shop: Shop,
  plan: PlannedOrder[],
  fault: () => Promise<void>,
  place: (plan: PlannedOrder[]) => Promise<BurstResult> = (orders) => burst(orders, 16),
): Promise<{ accepted: string[]; retried: number; finishedMs: number }> {
  const dlqBefore = await dlqDepth();
  const started = Date.now();
  // Both to their end even when one fails: a fault still under way (a node about to be killed) would
  // otherwise act after the test has given up, and the test's clean-up would not know of it.
  const [placed, faulted] = await Promise.allSettled([place(plan), fault()]);
  if (placed.status === 'rejected') throw placed.reason;
  if (faulted.status === 'rejected') throw faulted.reason;
  const result = placed.value;
  const statuses = await waitUntilFinished(dbs.order, result.accepted);
  const finishedMs = Date.now() - started;

  const notCompleted = [...statuses].filter(([, status]) => status !== 'COMPLETED');
  t.deepEqual(notCompleted, [], 'every accepted order completed');
  t.is(new Set(result.accepted).size, plan.length, 'one order per planned order, none doubled');

  const taken = new Map<string, number>();
  const spent = new Map<string, number>();
  for (const { userId, items } of plan) {
    for (const { productId, quantity } of items) {
      taken.set(productId, (taken.get(productId) ?? 0) + quantity);
      spent.set(userId, (spent.get(userId) ?? 0) + quantity * shop.price);
    }
  }
  const stocks = await dbs.product('products').whereIn('id', shop.productIds).select('id', 'stock');
  t.deepEqual(
    Object.fromEntries(stocks.map((row) => [row.id, Number(row.stock)])),
    Object.fromEntries(shop.productIds.map((id) => [id, shop.stock - (taken.get(id) ?? 0)])),
    'stock moved by exactly the completed orders',
  );
  const points = await dbs.user('users').whereIn('id', shop.userIds).select('id', 'points');
  t.deepEqual(
    Object.fromEntries(points.map((row) => [row.id, Number(row.points)])),
    Object.fromEntries(shop.userIds.map((id) => [id, shop.points - (spent.get(id) ?? 0)])),
    'points moved by exactly the completed orders',
  );
  t.deepEqual(await audit(dbs, { orderIds: result.accepted, productIds: shop.productIds, userIds: shop.userIds }), []);
  t.is(await dlqDepth(), dlqBefore, 'nothing went to a DLQ');
  t.log(`${plan.length} orders, ${result.retried} requests retried by the clients, all completed ${finishedMs} ms after the burst began`);
  return { accepted: result.accepted, retried: result.retried, finishedMs };
}
