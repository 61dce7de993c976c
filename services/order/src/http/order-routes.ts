import { AppError, idSchema, parseBody, parseId, type ServiceContext } from '@cdc-outbox-saga/platform';
import type { Express, Request, Response } from 'express';
import { z } from 'zod';
import { findOrderView, type OrderView } from '../data/order-repository.js';
import { placeOrder } from '../domain/place-order.js';
import { preferredWaitSeconds } from '../domain/prefer-wait.js';
import type { SagaOutcomes } from '../domain/saga-outcomes.js';

/** Upper bounds that keep one order reasonable (and its amount far inside a safe integer). */
export const MAX_LINES = 100;
export const MAX_QUANTITY = 1000;

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
 * Who is calling, as the gateway verified it (it replaces whatever a client sent in these headers). A
 * call without them did not come through the gateway: natively the services listen on 127.0.0.1 only, and in
 * compose they publish no port, so only the gateway and the stack's own containers reach them.
 */
function caller(req: Request): { subject: string | undefined; scopes: string[] } {
  return { subject: req.get('x-auth-subject') || undefined, scopes: (req.get('x-auth-scopes') ?? '').split(' ').filter(Boolean) };
}

/** An order is readable by the subject that placed it, by a caller with the read-all scope, and internally. */
export function mayRead(who: { subject: string | undefined; scopes: string[] }, placedBy: string | null): boolean {
  if (who.subject === undefined) return true;
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
      const order = parseBody(newOrder, req.body);
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
