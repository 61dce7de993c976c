import type { ExecutionContext } from 'ava';
import type { SagaDatabases } from '../../../src/databases.js';
import type { Answer } from '../../helpers/api.js';
import type { RawResponse } from './raw-http.js';

/** An answer as the checks read it, whether it came through fetch or off a raw socket. */
export interface Seen {
  status: number;
  body: any;
  header(name: string): string | undefined;
}

export function seenFetch(answer: Answer): Seen {
  return { status: answer.status, body: answer.body, header: (name) => answer.headers.get(name) ?? undefined };
}

export function seenRaw(response: RawResponse | undefined): Seen {
  if (!response) return { status: 0, body: undefined, header: () => undefined };
  return { status: response.status, body: response.json ?? response.body, header: (name) => response.header(name) };
}

/**
 * The shared contract's refusal: `status`, `content-type: application/json; charset=utf-8` and a body
 * of exactly `{"error":{"code","message"}}` (plus `details` for a validation failure).
 */
export function isJsonError(t: ExecutionContext, seen: Seen, status: number, code: string, what = ''): void {
  const shown = `${what} ${seen.status} ${JSON.stringify(seen.body)}`.trim();
  t.is(seen.status, status, shown);
  t.regex(seen.header('content-type') ?? '', /^application\/json; charset=utf-8$/i, `${what} content-type`);
  t.is(seen.body?.error?.code, code, shown);
  t.is(typeof seen.body?.error?.message, 'string', shown);
  if (seen.body && typeof seen.body === 'object') t.deepEqual(Object.keys(seen.body), ['error'], shown);
}

/** A 400 VALIDATION_FAILED whose `details` name the field (a path that contains `field`). */
export function isValidationFailure(t: ExecutionContext, seen: Seen, field: string, what = ''): void {
  isJsonError(t, seen, 400, 'VALIDATION_FAILED', what);
  const details: unknown = seen.body?.error?.details;
  t.true(Array.isArray(details) && details.length > 0, `${what} details: ${JSON.stringify(details)}`);
  if (!Array.isArray(details)) return;
  t.true(
    details.every((d) => typeof d?.path === 'string' && typeof d?.message === 'string'),
    `${what} details are {path, message}: ${JSON.stringify(details)}`,
  );
  t.true(
    details.some((d) => String(d?.path).split('.').includes(field)),
    `${what} a detail names ${field}: ${JSON.stringify(details)}`,
  );
}

/** The security headers every API answer carries. */
export function hasSecurityHeaders(t: ExecutionContext, seen: Seen, what = ''): void {
  t.is(seen.header('x-content-type-options'), 'nosniff', `${what} X-Content-Type-Options (status ${seen.status})`);
  t.regex(seen.header('cache-control') ?? '', /\bno-store\b/, `${what} Cache-Control (status ${seen.status})`);
}

/** Which rows a hostile request could have written: each set is compared before and after it. */
export interface RowScope {
  /** Users and products whose name contains it. */
  marker?: string;
  /** Users and products named exactly so (byte for byte): names that cannot carry a marker. */
  names?: string[];
  /** These users' rows, and the orders, sagas, reservations and deductions that name them. */
  userIds?: string[];
  /** These products' rows and the reservation lines that name them. */
  productIds?: string[];
  /** Sagas placed by this token subject. */
  subject?: string;
  /** Sagas with these Idempotency-Keys (byte for byte). */
  idempotencyKeys?: string[];
}

const count = async (query: PromiseLike<Array<Record<string, unknown>>>): Promise<number> => Number((await query)[0]?.n ?? 0);

/**
 * The rows of `scope` in the three databases, as plain data. Scoped rather than whole-table counts:
 * the other test files write to the same tables at the same time.
 */
export async function rowSnapshot(dbs: SagaDatabases, scope: RowScope): Promise<Record<string, unknown>> {
  const snapshot: Record<string, unknown> = {};
  const named = (db: SagaDatabases['user'], table: string) =>
    db(table)
      .where((q) => {
        q.whereRaw('1 = 0');
        if (scope.marker) q.orWhere('name', 'like', `%${scope.marker}%`);
        for (const name of scope.names ?? []) q.orWhereRaw('name COLLATE utf8mb4_bin = ?', [name]);
      })
      .count({ n: '*' });
  if (scope.marker || scope.names?.length) {
    snapshot.usersNamed = await count(named(dbs.user, 'users'));
    snapshot.productsNamed = await count(named(dbs.product, 'products'));
  }
  const dated = (rows: Array<Record<string, unknown>>) =>
    rows.map((row) =>
      Object.fromEntries(Object.entries(row).map(([key, value]) => [key, value instanceof Date ? value.toISOString() : value])),
    );
  if (scope.userIds?.length) {
    const ids = scope.userIds;
    snapshot.users = dated(await dbs.user('users').whereIn('id', ids).orderBy('id').select('id', 'points', 'points_granted', 'updated_at'));
    snapshot.deductions = await count(dbs.user('point_deductions').whereIn('user_id', ids).count({ n: '*' }));
    snapshot.orders = await count(dbs.order('orders').whereIn('user_id', ids).count({ n: '*' }));
    snapshot.sagasOfUsers = await count(dbs.order('sagas').whereIn('user_id', ids).count({ n: '*' }));
    snapshot.reservations = await count(dbs.product('reservations').whereIn('user_id', ids).count({ n: '*' }));
  }
  if (scope.productIds?.length) {
    const ids = scope.productIds;
    snapshot.products = dated(
      await dbs.product('products').whereIn('id', ids).orderBy('id').select('id', 'stock', 'stock_received', 'updated_at'),
    );
    snapshot.reservationLines = await count(dbs.product('reservation_lines').whereIn('product_id', ids).count({ n: '*' }));
  }
  if (scope.subject) {
    const row = await dbs.order('sagas').where({ placed_by: scope.subject }).count({ n: '*' }).max({ last: 'updated_at' }).first();
    snapshot.sagasOfSubject = { n: Number(row?.n ?? 0), last: row?.last instanceof Date ? row.last.toISOString() : (row?.last ?? null) };
  }
  if (scope.idempotencyKeys?.length) {
    const keys = scope.idempotencyKeys;
    snapshot.sagasByKey = await count(
      dbs
        .order('sagas')
        .where((q) => {
          q.whereRaw('1 = 0');
          for (const key of keys) q.orWhereRaw('idempotency_key COLLATE utf8mb4_bin = ?', [key]);
        })
        .count({ n: '*' }),
    );
  }
  return snapshot;
}

/** Runs `request` and checks that no row of `scope` changed; returns what `request` returned. */
export async function writesNothing<T>(
  t: ExecutionContext,
  dbs: SagaDatabases,
  scope: RowScope,
  request: () => Promise<T>,
  what = '',
): Promise<T> {
  const before = await rowSnapshot(dbs, scope);
  const result = await request();
  // A write that got through would be committed before its answer; a saga's later steps are not waited for.
  t.deepEqual(await rowSnapshot(dbs, scope), before, `${what} no row changed`.trim());
  return result;
}
