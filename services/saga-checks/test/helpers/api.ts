import { randomUUID } from 'node:crypto';
import { mintToken } from '@cdc-outbox-saga/local-stack';

/** The gateway, as `npm test` / `npm start` publish it. */
export const gateway = (process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * The subject this test file acts as: one per file (each file runs in its own process), so files never
 * share a rate-limit bucket, and the orders a file places are its own to read.
 */
export const subject = `saga-checks-${randomUUID().slice(0, 8)}`;
let token: Promise<string> | undefined;

/** A token for `subject`, signed with the local stack's development key, as `npm run -s token` prints. */
export function bearer(): Promise<string> {
  token ??= mintToken({ subject });
  return token;
}

/**
 * A request through the gateway, authenticated as this file's subject unless `token` says otherwise
 * (a string: that token; null: no Authorization header at all).
 */
export async function api<T = any>(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Answer<T>> {
  const token = options.token === undefined ? await bearer() : options.token;
  const response = await fetch(`${gateway}/api${path}`, {
    method,
    headers: {
      ...(options.body !== undefined || options.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...options.headers,
    },
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    signal: AbortSignal.timeout(90_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: keep the text, the test will say so */
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

export async function createUser(points: number): Promise<string> {
  const { status, body } = await api('POST', '/users', { body: { name: `buyer-${randomUUID().slice(0, 8)}`, points } });
  if (status !== 201) throw new Error(`creating a user answered ${status}: ${JSON.stringify(body)}`);
  return body.id;
}

export async function createProduct(price: number, stock: number): Promise<string> {
  const { status, body } = await api('POST', '/products', {
    body: { name: `product-${randomUUID().slice(0, 8)}`, price, stock },
  });
  if (status !== 201) throw new Error(`creating a product answered ${status}: ${JSON.stringify(body)}`);
  return body.id;
}

export type Items = Array<{ productId: string; quantity: number }>;

/** POST /api/orders with `Prefer: wait=30`: the answer carries the outcome. */
export function placeOrder(userId: string, items: Items, headers: Record<string, string> = {}): Promise<Answer> {
  return api('POST', '/orders', { body: { userId, items }, headers: { prefer: 'wait=30', ...headers } });
}

export async function stockOf(productId: string): Promise<number> {
  return (await api('GET', `/products/${productId}`)).body.stock;
}

export async function pointsOf(userId: string): Promise<number> {
  return (await api('GET', `/users/${userId}`)).body.points;
}
