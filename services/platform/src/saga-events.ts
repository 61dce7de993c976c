/**
 * The saga's contract in TypeScript: the payloads of the Avro schemas in services/<service>/schemas.
 * Each service publishes its own events and reads the others' through these types.
 */

/** Stable reason codes of a cancelled order. */
export const Reasons = {
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  UNKNOWN_PRODUCT: 'UNKNOWN_PRODUCT',
  INSUFFICIENT_POINTS: 'INSUFFICIENT_POINTS',
  UNKNOWN_USER: 'UNKNOWN_USER',
  /** The saga was still PENDING at its deadline (`saga.deadlineSeconds`): the order service ended it. */
  SAGA_TIMEOUT: 'SAGA_TIMEOUT',
} as const;
export type Reason = (typeof Reasons)[keyof typeof Reasons];

interface SagaEvent {
  orderId: string;
  userId: string;
  /** ms since epoch, when the event was written to the outbox. */
  occurredAt: number;
}

export interface OrderCreated extends SagaEvent {
  items: Array<{ productId: string; quantity: number }>;
}
export interface OrderCompleted extends SagaEvent {
  amount: number;
}
export interface OrderCancelled extends SagaEvent {
  reason: string;
  amount: number | null;
}
export interface StockReserved extends SagaEvent {
  amount: number;
  lines: Array<{ productId: string; quantity: number; unitPrice: number }>;
}
export interface StockReservationFailed extends SagaEvent {
  reason: string;
  productId: string | null;
}
export interface StockReleased extends SagaEvent {
  reason: string;
  amount: number;
}
export interface PointsDeducted extends SagaEvent {
  amount: number;
}
export interface PointsDeductionFailed extends SagaEvent {
  amount: number;
  reason: string;
}

/** Topics, one per aggregate: `<aggregatetype>.events`. */
export const Topics = {
  order: 'order.events',
  product: 'product.events',
  user: 'user.events',
} as const;
