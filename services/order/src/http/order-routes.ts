import { AppError, idSchema, parseBody, parseId, type AuthContext, type ServiceContext } from '@cdc-outbox-saga/platform';
import type { Express, Request, Response } from 'express';
import { z } from 'zod';
import { findOrderView, type OrderView } from '../data/order-repository.js';
import { placeOrder } from '../domain/place-order.js';
import { preferredWaitSeconds } from '../domain/prefer-wait.js';
import type { SagaOutcomes } from '../domain/saga-outcomes.js';

/** Upper bounds that keep one order reasonable (and its amount far inside a safe integer). */
export const MAX_LINES = 100;
export const MAX_QUANTITY = 1000;

/** Ids come out in lower case (`idSchema`), so the duplicate-line rule, the rows and the events see one spelling. */
export const newOrder = z.strictObject({
  userId: idSchema,
  items: z
    .array(
      z.strictObject({
        productId: idSchema,
        quantity: z.number().int().min(1).max(MAX_QUANTITY),
      }),
    )
    .min(1)
    .max(MAX_LINES)
    .refine((items) => new Set(items.map((item) => item.productId)).size === items.length, {
      message: 'each product may appear on one line only',
    }),
});

const idempotencyKey = z.string().regex(/^[\x21-\x7e]{1,200}$/, 'visible ASCII, 1 to 200 characters');

/** The scope that lets a caller read every order (support staff, the audit). */
export const READ_ALL_ORDERS_SCOPE = 'orders:read-all';

/**
 * Who is calling, as this service verified it from the bearer token (the platform's `authenticate` runs
 * before every route): never from a header anyone could write.
 */
function caller(req: Request): AuthContext {
  // Unreachable while authenticate is mounted; without it, refusing beats serving an unknown caller.
  if (!req.auth) throw new AppError('INTERNAL', 'the request reached a route without a verified caller', { status: 500 });
  return req.auth;
}

/**
 * An order is readable by the subject that placed it, and by a caller with the read-all scope: the only way
 * to read someone else's order, or one recorded without a subject.
 */
export function mayRead(who: AuthContext, placedBy: string | null): boolean {
  return who.subject === placedBy || who.scopes.includes(READ_ALL_ORDERS_SCOPE);
}

/** 201 COMPLETED, 409 CANCELLED (with its reason), 202 while PENDING; always with Location. */
function sendOutcome(res: Response, view: OrderView, waited: number | undefined): void {
  const status = view.status === 'COMPLETED' ? 201 : view.status === 'CANCELLED' ? 409 : 202;
  res.location(`/api/orders/${view.id}`);
  if (waited !== undefined) res.set('Preference-Applied', `wait=${waited}`);
  res.status(status).json(view);
}

/** `maxWaitSeconds` is read per request: it is a live setting. */
export function orderRoutes(maxWaitSeconds: () => number) {
  return (app: Express, { db, outbox, outcomes }: ServiceContext & { outcomes: SagaOutcomes }): void => {
    app.post('/orders', async (req, res) => {
      const order = parseBody(newOrder, req);
      const rawKey = req.get('idempotency-key');
      if (rawKey !== undefined && !idempotencyKey.safeParse(rawKey).success) {
        throw new AppError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 200 visible ASCII characters', { status: 400 });
      }
      const { view } = await placeOrder(db, outbox, {
        ...order,
        idempotencyKey: rawKey,
        traceparent: req.get('traceparent'),
        placedBy: caller(req).subject,
      });
      const wait = preferredWaitSeconds(req.get('prefer'), maxWaitSeconds());
      // Stop waiting (and polling for it) as soon as the client hangs up.
      const clientGone = new AbortController();
      res.on('close', () => clientGone.abort());
      const final = wait ? await outcomes.waitForOutcome(view, wait * 1000, clientGone.signal) : view;
      sendOutcome(res, final, wait);
    });

    app.get('/orders/:id', async (req, res) => {
      const found = await findOrderView(db, parseId(req.params.id));
      // Someone else's order is answered as unknown: its existence is not the caller's business.
      if (!found || !mayRead(caller(req), found.placedBy)) {
        throw new AppError('ORDER_NOT_FOUND', `no order ${req.params.id}`, { status: 404 });
      }
      res.json(found.view);
    });
  };
}
