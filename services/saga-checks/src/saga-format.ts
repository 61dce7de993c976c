import type { SagaState, Wait } from './saga-state.js';
import type { SagaStory, StoryEntry } from './saga-story.js';

/** The readable story: a head line, the state with what it waits for, then one line per entry in time order. */

const ms = (n: number) => (Math.abs(n) < 10_000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`);
const s = (n: number) => `${n.toFixed(1)} s`;

/** The entry's own text, after its time and source. */
export function describeEntry(entry: StoryEntry): string {
  switch (entry.kind) {
    case 'saga':
      if (entry.status === 'PENDING') return 'order placed: saga PENDING';
      return `saga ${entry.status}${entry.reason ? ` (${entry.reason})` : ''}${entry.amount === null ? '' : `, amount ${entry.amount}`}`;
    case 'decision': {
      const what = entry.table === 'reservations' ? 'reservation' : 'points deduction';
      return `${what} ${entry.status}${entry.reason ? ` (${entry.reason})` : ''}${entry.amount ? `, amount ${entry.amount}` : ''}`;
    }
    case 'event': {
      const parts = [`${entry.eventType ?? '? (no eventType header)'} at ${entry.partition}:${entry.offset}`];
      if (entry.redrivenFrom) parts.push(`re-driven copy of ${entry.redrivenFrom}`);
      else if (entry.hopMs !== null) parts.push(`outbox → topic ${ms(entry.hopMs)}`);
      const applied = entry.handledBy.map((h) => `${h.group} +${ms(Date.parse(h.at) - Date.parse(entry.at))}`);
      if (applied.length > 0) parts.push(`applied by ${applied.join(', ')}`);
      if (entry.awaitedBy.length > 0) parts.push(`not applied by ${entry.awaitedBy.join(', ')}`);
      if (applied.length === 0 && entry.awaitedBy.length === 0) parts.push('no service acts on it');
      return parts.join('; ');
    }
    case 'dead-letter':
      return `${entry.eventType ?? '?'} dead-lettered by ${entry.group ?? '?'} as ${entry.id}: ${entry.code ?? '?'}: ${entry.message ?? ''}; ${
        entry.redriven ? 're-driven since (see below)' : 'not re-driven'
      }`;
    case 're-drive':
      return `${entry.of} re-driven to ${entry.to ?? '?'}${entry.count === null ? '' : ` (re-drive no. ${entry.count})`}`;
  }
}

const SERVICE = { order: 'the order service', product: 'the product service', user: 'the user service' } as const;
/** Which service's outbox each event comes from, for a wait on the connector. */
const PUBLISHER: Record<string, keyof typeof SERVICE> = {
  OrderCreated: 'order',
  OrderCompleted: 'order',
  OrderCancelled: 'order',
  StockReserved: 'product',
  StockReservationFailed: 'product',
  StockReleased: 'product',
  PointsDeducted: 'user',
  PointsDeductionFailed: 'user',
};

/** A wait as sentences: what it waits for since when, and the dead letter that blocks it, if any. */
export function describeWait(wait: Wait): string[] {
  const then = wait.service ? `, then for ${SERVICE[wait.service]} to ${wait.step}` : '';
  const lines =
    wait.phase === 'connector' || !wait.service
      ? [
          `${wait.on} is not on its topic yet: waits for the outbox connector to publish it from ${SERVICE[PUBLISHER[wait.on] ?? 'order']}'s outbox (written ${wait.since}, ${s(wait.seconds)} ago)${then}`,
        ]
      : [`waits for ${SERVICE[wait.service]} to ${wait.step} on ${wait.on} (on its topic since ${wait.since}, ${s(wait.seconds)})`];
  if (wait.deadLetter) {
    lines.push(
      `stuck: ${wait.service}-service dead-lettered ${wait.on} (${wait.deadLetter.id}) at ${wait.deadLetter.failedAt ?? '?'}: ${wait.deadLetter.code ?? '?'}: ${wait.deadLetter.message ?? ''}`,
      `fix the cause, then: npm run dlq -- redrive ${wait.deadLetter.id}`,
    );
  }
  return lines;
}

export function describeState(state: SagaState): string[] {
  const lines: string[] = [];
  if (state.final) {
    lines.push(`now: ${state.status}${state.reason ? ` (${state.reason})` : ''}, final; ${s(state.seconds)} from placed to ended`);
    for (const wait of state.settling) lines.push(...describeWait(wait).map((line) => `  still to settle: ${line}`));
  } else {
    lines.push(`now: PENDING for ${s(state.seconds)}`);
    if (state.waitingFor) lines.push(...describeWait(state.waitingFor).map((line) => `  ${line}`));
    const deadline = state.deadline!;
    lines.push(
      deadline.remainingSeconds >= 0
        ? `  deadline: ${deadline.seconds} s; the order service cancels it (SAGA_TIMEOUT) in ${s(deadline.remainingSeconds)} unless it ends before`
        : `  deadline: ${deadline.seconds} s, passed ${s(-deadline.remainingSeconds)} ago: the order service's next sweep cancels it (SAGA_TIMEOUT), if an order instance is running`,
    );
  }
  for (const anomaly of state.anomalies) lines.push(`  unexpected: ${anomaly}`);
  return lines;
}

export function formatStory(story: SagaStory): string {
  const { saga } = story;
  const lines = [
    `order ${story.orderId}: user ${saga.userId}, ${saga.items.length} line(s)${saga.amount === null ? '' : `, amount ${saga.amount}`}`,
    ...describeState(story.state),
    '',
  ];
  const sourceWidth = Math.max('SOURCE'.length, ...story.story.map((entry) => entry.source.length));
  const row = (at: string, source: string, what: string) => `${at.padEnd(24)}  ${source.padEnd(sourceWidth)}  ${what}`;
  lines.push(row('TIME', 'SOURCE', 'WHAT'));
  for (const entry of story.story) lines.push(row(entry.at, entry.source, describeEntry(entry)));
  return lines.join('\n');
}
