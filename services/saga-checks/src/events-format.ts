import type { DecodedEvent } from './events.js';

/** What `--json` prints for one record: one line, these fields in this order. */
export function eventJson(event: DecodedEvent): Record<string, unknown> {
  return {
    topic: event.topic,
    partition: event.partition,
    offset: event.offset,
    timestamp: event.timestamp,
    key: event.key,
    headers: event.headers,
    eventType: event.eventType,
    value: event.value,
    ...(event.decodeError === undefined ? {} : { decodeError: event.decodeError }),
  };
}

export const eventJsonLine = (event: DecodedEvent) => JSON.stringify(eventJson(event));

/** Column widths, fixed before the first record so that followed records line up with the header. */
export interface Columns {
  topic: number;
  type: number;
}

const TIME_WIDTH = 24; // 2025-06-01T12:00:00.000Z
const WHERE_WIDTH = 8; // partition:offset; wider offsets push the rest along
const KEY_WIDTH = 36; // a UUID

export function columnsFor(topics: string[], types: string[] = []): Columns {
  return {
    topic: Math.max('TOPIC'.length, ...topics.map((topic) => topic.length)),
    type: Math.max('EVENT TYPE'.length, ...types.map((type) => type.length)),
  };
}

function row(columns: Columns, cells: [string, string, string, string, string, string]): string {
  const widths = [TIME_WIDTH, columns.topic, WHERE_WIDTH, KEY_WIDTH, columns.type];
  return cells
    .map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell))
    .join('  ')
    .trimEnd();
}

export const formatHeader = (columns: Columns) => row(columns, ['TIMESTAMP', 'TOPIC', 'P:OFFSET', 'KEY', 'EVENT TYPE', 'VALUE']);

/** One record as a line: time, topic, partition:offset, key, type, then the value as compact JSON. */
export function formatEvent(event: DecodedEvent, columns: Columns): string {
  const value = event.decodeError === undefined ? JSON.stringify(event.value) : `(not decoded: ${event.decodeError})`;
  return row(columns, [
    event.timestamp,
    event.topic,
    `${event.partition}:${event.offset}`,
    event.key ?? '-',
    event.eventType ?? '?',
    value,
  ]);
}
