import type { DlqEntry } from './dlq.js';

// What `npm run dlq -- list` prints: the human-readable listing, and the pieces of its --json document.

/** What `list --json` prints for one entry (the raw record left out). */
export function entryJson(entry: DlqEntry) {
  const { record: _record, ...rest } = entry;
  return rest;
}

/** One DLQ topic's count: its dead-lettered messages, and those not re-driven yet. */
export interface TopicSummary {
  topic: string;
  messages: number;
  waiting: number;
}

/** A count for each of `topics` (0 for one with no message). */
export function summarise(topics: string[], entries: DlqEntry[]): TopicSummary[] {
  return topics.map((topic) => {
    const mine = entries.filter((entry) => entry.topic === topic);
    return { topic, messages: mine.length, waiting: mine.filter((entry) => !entry.redriven).length };
  });
}

/** The human-readable listing: per topic a count, per message one line and its error and re-drives below. */
export function formatList(topics: string[], entries: DlqEntry[]): string {
  if (topics.length === 0) return 'no DLQ topics (*.dlq): nothing was ever dead-lettered';
  const lines: string[] = [];
  for (const summary of summarise(topics, entries)) {
    const mine = entries.filter((entry) => entry.topic === summary.topic);
    lines.push(`${summary.topic}: ${summary.messages} message(s), ${summary.waiting} waiting to be re-driven`);
    if (mine.length === 0) continue;
    const rows = mine.map((entry) => [
      entry.id,
      entry.failedAt ?? '?',
      entry.consumerGroup ?? '?',
      entry.eventType ?? '?',
      entry.key ?? '-',
      entry.redriven ? `re-driven ${entry.redrives.length}×` : 'waiting',
    ]);
    const header = ['DLQ RECORD', 'FAILED AT', 'GROUP', 'EVENT TYPE', 'KEY (ORDER)', 'STATE'];
    const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
    const format = (row: string[]) => `  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`;
    lines.push(format(header));
    mine.forEach((entry, i) => {
      lines.push(format(rows[i]!));
      const from = entry.original.topic
        ? `${entry.original.topic}:${entry.original.partition ?? '?'}:${entry.original.offset ?? '?'}`
        : '? (no dlq.original.* headers)';
      lines.push(`      event ${entry.eventId ?? '? (no eventId header)'} from ${from}`);
      lines.push(`      error ${entry.error.code ?? '?'} (${entry.error.class ?? '?'}): ${entry.error.message ?? ''}`);
      if (entry.redrivenFrom) {
        lines.push(`      this was re-drive no. ${entry.earlierRedrives} of ${entry.redrivenFrom}, and failed again`);
      }
      for (const redrive of entry.redrives) {
        lines.push(`      re-driven ${redrive.at ?? '?'} to ${redrive.to ?? '?'} (marker ${redrive.marker})`);
      }
    });
  }
  return lines.join('\n');
}
