import { createHash, randomUUID } from 'node:crypto';
import { AppError, isDuplicateKey, type OutboxWriter } from '@cdc-outbox-saga/platform';
import type { Knex } from 'knex';
import { findByIdempotencyKey, orderStatements, type OrderLine, type OrderView } from '../data/order-repository.js';

export interface PlaceOrder {
  userId: string;
  items: OrderLine[];
  idempotencyKey?: string | undefined;
  traceparent?: string | undefined;
  /**
   * The subject placing it, from the bearer token this service verified itself (every HTTP request has
   * one); undefined only when code calls `placeOrder` directly, and then the order has no subject.
   */
  placedBy?: string | undefined;
}

/**
 * A request's fingerprint: the same Idempotency-Key must come with the same order from the same subject.
 * Another subject reusing a key gets 422, never the first subject's order.
 */
export function requestHash(order: Pick<PlaceOrder, 'userId' | 'items' | 'placedBy'>): string {
  return createHash('sha256')
    .update(JSON.stringify({ placedBy: order.placedBy ?? null, userId: order.userId, items: order.items }))
    .digest('hex');
}

function replay(existing: { view: OrderView; requestHash: string | null }, hash: string): OrderView {
  if (existing.requestHash !== hash) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a different order', { status: 422 });
  }
  return existing.view;
}

/**
 * Saga step 1: the order, its lines, a PENDING payment, the PENDING saga record and OrderCreated,
 * in one transaction. With an Idempotency-Key already used for the same order, the existing order is
 * returned and nothing is kept. `created` says which of the two happened.
 */
export async function placeOrder(db: Knex, outbox: OutboxWriter, order: PlaceOrder): Promise<{ view: OrderView; created: boolean }> {
  const key = order.idempotencyKey ?? null;
  const hash = key ? requestHash(order) : null;
  const id = randomUUID();
  const createdAt = new Date();
  try {
    await db.transaction(async (trx) => {
      const rows = orderStatements(trx, {
        id,
        userId: order.userId,
        items: order.items,
        paymentId: randomUUID(),
        idempotencyKey: key,
        requestHash: hash,
        placedBy: order.placedBy ?? null,
        createdAt,
      });
      // The rows and the outbox row in one round trip.
      await outbox.write(
        trx,
        {
          type: 'OrderCreated',
          aggregateId: id,
          payload: { orderId: id, userId: order.userId, items: order.items, occurredAt: Date.now() },
          traceparent: order.traceparent,
        },
        rows,
      );
    });
  } catch (error) {
    // A key used before (a retry, or the same request twice at once) fails on its unique index, which
    // answers in the same round trip a look-up first would have cost: reply with that order.
    if (key && isDuplicateKey(error)) {
      const existing = await findByIdempotencyKey(db, key);
      if (existing) return { view: replay(existing, hash!), created: false };
    }
    throw error;
  }
  // What was just committed; no need to read it back.
  const at = createdAt.toISOString();
  return {
    view: { id, status: 'PENDING', userId: order.userId, items: order.items, amount: null, createdAt: at, updatedAt: at },
    created: true,
  };
}
