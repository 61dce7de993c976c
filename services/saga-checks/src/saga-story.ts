import { DlqHeaders } from './dlq.js';
import type { DecodedEvent } from './events.js';
import {
  HANDLERS,
  sagaState,
  type DecisionRow,
  type Handling,
  type SagaFacts,
  type SagaRecord,
  type SagaState,
  type SagaStatus,
} from './saga-state.js';

/** The story of one order, in time order, from its facts (saga-state.ts); no I/O. */

export type StoryEntry = { at: string; source: string } & (
  | { kind: 'saga'; status: SagaStatus; reason: string | null; amount: number | null }
  | { kind: 'decision'; service: 'product' | 'user'; table: string; status: string; reason: string | null; amount: number | null }
  | {
      kind: 'event';
      eventType: string | null;
      eventId: string | null;
      topic: string;
      partition: number;
      offset: string;
      /** When its outbox row was written (the event's occurredAt). */
      occurredAt: string | null;
      /** From the outbox row to the Kafka record; null for a re-driven copy. */
      hopMs: number | null;
      /** For a re-driven copy: the DLQ record it came from. */
      redrivenFrom: string | null;
      handledBy: Array<{ group: string; at: string }>;
      /** Groups that act on this type of event and have not applied it (yet). */
      awaitedBy: string[];
    }
  | {
      kind: 'dead-letter';
      id: string;
      eventType: string | null;
      group: string | null;
      code: string | null;
      message: string | null;
      redriven: boolean;
    }
  | { kind: 're-drive'; of: string; to: string | null; count: number | null }
);

export interface SagaStory {
  orderId: string;
  saga: Omit<SagaRecord, 'createdAt' | 'updatedAt' | 'finishedAt' | 'ageSeconds'> & {
    createdAt: string;
    updatedAt: string;
    finishedAt: string | null;
  };
  state: SagaState;
  story: StoryEntry[];
}

/** The row's status when it was first written: RELEASED and REFUNDED rows were RESERVED and DEDUCTED first. */
const FIRST_STATUS: Record<string, string> = { RELEASED: 'RESERVED', REFUNDED: 'DEDUCTED' };

function decisionEntries(service: 'product' | 'user', table: string, row: DecisionRow | null): StoryEntry[] {
  if (!row) return [];
  const first = FIRST_STATUS[row.status];
  const source = `${service} db`;
  const entry = (at: Date, status: string, reason: string | null, amount: number | null): StoryEntry => ({
    at: at.toISOString(),
    source,
    kind: 'decision',
    service,
    table,
    status,
    reason,
    amount,
  });
  return first
    ? [entry(row.createdAt, first, null, row.amount), entry(row.updatedAt, row.status, row.reason, row.amount)]
    : [entry(row.createdAt, row.status, row.reason, row.amount)];
}

function eventEntry(event: DecodedEvent, handled: Handling[]): StoryEntry {
  const eventId = event.headers.eventId ?? null;
  const occurred = (event.value as { occurredAt?: unknown } | null)?.occurredAt;
  const occurredAt = typeof occurred === 'number' ? occurred : null;
  const redrivenFrom = event.headers[DlqHeaders.redrivenFrom] ?? null;
  const handledBy = handled.filter((h) => h.eventId === eventId);
  return {
    at: event.timestamp,
    source: event.topic,
    kind: 'event',
    eventType: event.eventType,
    eventId,
    topic: event.topic,
    partition: event.partition,
    offset: event.offset,
    occurredAt: occurredAt === null ? null : new Date(occurredAt).toISOString(),
    hopMs: occurredAt === null || redrivenFrom ? null : Date.parse(event.timestamp) - occurredAt,
    redrivenFrom,
    handledBy: handledBy.map((h) => ({ group: h.group, at: h.at.toISOString() })),
    awaitedBy: (HANDLERS[event.eventType ?? ''] ?? []).filter((group) => !handledBy.some((h) => h.group === group)),
  };
}

/** The whole story, in time order (entries of the same instant in the order the saga makes them). */
export function sagaStory(facts: SagaFacts): SagaStory {
  const { saga } = facts;
  const entries: StoryEntry[] = [
    { at: saga.createdAt.toISOString(), source: 'order db', kind: 'saga', status: 'PENDING', reason: null, amount: null },
    ...decisionEntries('product', 'reservations', facts.reservation),
    ...decisionEntries('user', 'point_deductions', facts.deduction),
    ...facts.events.map((event) => eventEntry(event, facts.handled)),
  ];
  if (saga.status !== 'PENDING') {
    entries.push({
      at: (saga.finishedAt ?? saga.updatedAt).toISOString(),
      source: 'order db',
      kind: 'saga',
      status: saga.status,
      reason: saga.reason,
      amount: saga.amount,
    });
  }
  for (const entry of facts.deadLetters) {
    const at = entry.failedAt ?? new Date(Number(entry.record.timestamp)).toISOString();
    const { code, message } = entry.error;
    entries.push({
      at,
      source: entry.topic,
      kind: 'dead-letter',
      id: entry.id,
      eventType: entry.eventType,
      group: entry.consumerGroup,
      code,
      message,
      redriven: entry.redriven,
    });
    for (const redrive of entry.redrives) {
      entries.push({ at: redrive.at ?? at, source: entry.topic, kind: 're-drive', of: entry.id, to: redrive.to, count: redrive.count });
    }
  }
  const story = entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => Date.parse(a.entry.at) - Date.parse(b.entry.at) || a.index - b.index);
  const { createdAt, updatedAt, finishedAt, ageSeconds: _age, ...rest } = saga;
  return {
    orderId: saga.orderId,
    saga: {
      ...rest,
      createdAt: createdAt.toISOString(),
      updatedAt: updatedAt.toISOString(),
      finishedAt: finishedAt?.toISOString() ?? null,
    },
    state: sagaState(facts),
    story: story.map(({ entry }) => entry),
  };
}
