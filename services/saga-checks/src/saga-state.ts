import type { DlqEntry } from './dlq.js';
import type { DecodedEvent } from './events.js';

/**
 * What the stack knows of one order, as saga-read.ts gathers it, and where the saga is: its outcome, or the
 * step it waits for. No I/O, so that every state can be unit-tested.
 */

export type SagaStatus = 'PENDING' | 'COMPLETED' | 'CANCELLED';
type Service = 'order' | 'product' | 'user';

/** The order service's saga record: the order's outcome, kept after a cancelled order's rows are deleted. */
export interface SagaRecord {
  orderId: string;
  userId: string;
  status: SagaStatus;
  reason: string | null;
  amount: number | null;
  items: Array<{ productId: string; quantity: number }>;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** How long since `createdAt` by the database's clock, as the deadline sweep measures it. */
  ageSeconds: number;
}

/** The product service's reservation row or the user service's deduction row: its decision for the order. */
export interface DecisionRow {
  status: string;
  reason: string | null;
  amount: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A `processed_events` record: that consumer group applied that event, at that time. */
export interface Handling {
  group: string;
  eventId: string;
  at: Date;
}

export interface SagaFacts {
  saga: SagaRecord;
  reservation: DecisionRow | null;
  deduction: DecisionRow | null;
  /** The order's records on the event topics, in time order. */
  events: DecodedEvent[];
  handled: Handling[];
  /** Dead letters whose key is the order id. */
  deadLetters: DlqEntry[];
  deadlineSeconds: number;
  now: Date;
}

/** A step the saga (or, once it has ended, the giving back of what is still held) waits for. */
export interface Wait {
  /** The service that acts on the event; null when nothing but its publication is awaited. */
  service: Service | null;
  /** What that service does next, e.g. "deduct the points". */
  step: string;
  /** The event it does it on. */
  on: string;
  /** `connector`: the event is not on its topic yet (CDC); `consumer`: it is, the service has not applied it. */
  phase: 'connector' | 'consumer';
  /** Since when it waits: when the event was written (connector) or reached its topic (consumer). */
  since: string;
  seconds: number;
  /** A dead letter of that event by that service's group that no re-drive marker names: the saga is stuck on it. */
  deadLetter: { id: string; failedAt: string | null; code: string | null; message: string | null } | null;
}

export interface SagaState {
  status: SagaStatus;
  reason: string | null;
  final: boolean;
  /** From placed to finished, or to now while PENDING. */
  seconds: number;
  /** While PENDING: the saga deadline, and the seconds left before the sweep cancels it (negative: overdue). */
  deadline: { seconds: number; remainingSeconds: number } | null;
  /** While PENDING: the step it waits for; null when the rows are in a combination the saga never makes. */
  waitingFor: Wait | null;
  /** Once ended: what is still held for it, or its last event not yet published. */
  settling: Wait[];
  /** Anything that does not fit the saga as designed. */
  anomalies: string[];
}

interface Step {
  service: Service;
  group: string;
  step: string;
  on: string;
}
const step = (service: Service, doing: string, on: string): Step => ({ service, group: `${service}-service`, step: doing, on });
export const Steps = {
  reserve: step('product', 'reserve the stock', 'OrderCreated'),
  cancelC1: step('order', 'cancel the order (C1)', 'StockReservationFailed'),
  deduct: step('user', 'deduct the points', 'StockReserved'),
  complete: step('order', 'complete the order', 'PointsDeducted'),
  releaseC2: step('product', 'release the stock (C2)', 'PointsDeductionFailed'),
  cancelC3: step('order', 'cancel the order (C3)', 'StockReleased'),
  giveBackStock: step('product', 'put back the stock it still holds', 'OrderCancelled'),
  refund: step('user', 'refund the points it still holds', 'OrderCancelled'),
} as const;

/** The consumer groups that act on each event type (the handlers each service's start.ts registers). */
export const HANDLERS: Record<string, string[]> = {
  OrderCreated: ['product-service'],
  OrderCompleted: [],
  OrderCancelled: ['product-service', 'user-service'],
  StockReserved: ['user-service'],
  StockReservationFailed: ['order-service'],
  StockReleased: ['order-service'],
  PointsDeducted: ['order-service'],
  PointsDeductionFailed: ['product-service'],
};

const seconds = (fromMs: number, toMs: number) => Math.round((toMs - fromMs) / 100) / 10;

/** What `step` waits for now: its event's publication, or its service applying it (perhaps stuck in the DLQ). */
export function waitOn(s: Step, writtenAt: Date, facts: SagaFacts): Wait {
  const copies = facts.events.filter((event) => event.eventType === s.on);
  const last = copies.at(-1);
  const since = last ? last.timestamp : writtenAt.toISOString();
  const open = facts.deadLetters.filter((entry) => entry.eventType === s.on && entry.consumerGroup === s.group && !entry.redriven).at(-1);
  return {
    service: s.service,
    step: s.step,
    on: s.on,
    phase: last ? 'consumer' : 'connector',
    since,
    seconds: seconds(Date.parse(since), facts.now.getTime()),
    deadLetter: open ? { id: open.id, failedAt: open.failedAt, code: open.error.code, message: open.error.message } : null,
  };
}

/** Where the saga is: its outcome, or the step it waits for and its time against the deadline. */
export function sagaState(facts: SagaFacts): SagaState {
  const { saga, reservation, deduction } = facts;
  const r = reservation?.status;
  const d = deduction?.status;
  const anomalies: string[] = [];
  const base = { status: saga.status, reason: saga.reason, anomalies };
  if (saga.status === 'PENDING') {
    let waitingFor: Wait | null = null;
    if (!r) waitingFor = waitOn(Steps.reserve, saga.createdAt, facts);
    else if (r === 'REFUSED') waitingFor = waitOn(Steps.cancelC1, reservation!.createdAt, facts);
    else if (r === 'RESERVED' && !d) waitingFor = waitOn(Steps.deduct, reservation!.createdAt, facts);
    else if (r === 'RESERVED' && d === 'DEDUCTED') waitingFor = waitOn(Steps.complete, deduction!.createdAt, facts);
    else if (r === 'RESERVED' && d === 'REFUSED') waitingFor = waitOn(Steps.releaseC2, deduction!.createdAt, facts);
    else if (r === 'RELEASED' && d === 'REFUSED') waitingFor = waitOn(Steps.cancelC3, reservation!.updatedAt, facts);
    if (!r && d) anomalies.push(`the user service decided (${d}) before any stock was reserved`);
    if (!waitingFor)
      anomalies.push(`a PENDING saga with reservation ${r ?? 'none'} and deduction ${d ?? 'none'}: no step of the saga leads here`);
    return {
      ...base,
      final: false,
      seconds: saga.ageSeconds,
      deadline: { seconds: facts.deadlineSeconds, remainingSeconds: Math.round((facts.deadlineSeconds - saga.ageSeconds) * 10) / 10 },
      waitingFor,
      settling: [],
    };
  }

  const ended = saga.finishedAt ?? saga.updatedAt;
  const settling: Wait[] = [];
  if (saga.status === 'CANCELLED') {
    if (r === 'RESERVED') settling.push(waitOn(Steps.giveBackStock, ended, facts));
    if (d === 'DEDUCTED') settling.push(waitOn(Steps.refund, ended, facts));
  } else if (r !== 'RESERVED' || d !== 'DEDUCTED') {
    anomalies.push(`COMPLETED, but the reservation is ${r ?? 'missing'} and the deduction ${d ?? 'missing'}`);
  }
  const last = saga.status === 'COMPLETED' ? 'OrderCompleted' : 'OrderCancelled';
  if (settling.length === 0 && !facts.events.some((event) => event.eventType === last)) {
    const since = ended.toISOString();
    settling.push({
      service: null,
      step: `publish ${last}`,
      on: last,
      phase: 'connector',
      since,
      seconds: seconds(ended.getTime(), facts.now.getTime()),
      deadLetter: null,
    });
  }
  return { ...base, final: true, seconds: seconds(saga.createdAt.getTime(), ended.getTime()), deadline: null, waitingFor: null, settling };
}
