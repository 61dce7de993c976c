import { Topics } from '@cdc-outbox-saga/platform';
import { UsageError, parseCommandLine } from './command-line.js';

/** Where a read starts on every partition. */
export type Start =
  | { from: 'beginning' }
  /** The first record whose timestamp is at or after `at` (ms since the epoch). */
  | { from: 'time'; at: number }
  /** The high watermark when the read begins: only what comes after. */
  | { from: 'end' };

/** What `npm run events` was asked to print. */
export interface EventsOptions {
  topics: string[];
  /** Only records with this key (an order id, lower case). */
  order: string | null;
  /** Only records with this `eventType` header. */
  type: string | null;
  start: Start;
  /** Keep reading after the ends the topics had at the start. */
  follow: boolean;
  /** Stop after this many records printed. */
  limit: number | null;
  json: boolean;
}

export type EventsCommand = { command: 'help' } | ({ command: 'read' } & EventsOptions);

export const DEFAULT_TOPICS: string[] = [Topics.order, Topics.product, Topics.user];

export const eventsUsage = `usage: npm run events -- [--topic <name>]... [--order <orderId>] [--type <eventType>]
                        [--from-beginning | --since <duration|time>] [--follow] [--limit N] [--json]

  Prints the events on the topics decoded through the schema registry, one per line, in time order.
  --topic           a topic to read (repeatable; default ${DEFAULT_TOPICS.join(', ')})
  --order           only the events of this order (their Kafka key)
  --type            only events of this type (the eventType header), e.g. OrderCreated
  --from-beginning  from the start of each partition, up to where it ends now
  --since           from a time: a duration back from now (90s, 10m, 1h30m, 2d) or an ISO 8601 time
                    (2025-06-01T12:00:00Z; a time without an offset is UTC), up to where each partition ends now
  --follow          then keep printing new events as they arrive, until Ctrl-C; the default when neither
                    --from-beginning nor --since is given (only new events then)
  --limit N         stop after N events
  --json            one JSON object per line: topic, partition, offset, timestamp, key, headers, eventType, value

Kafka and the registry: KAFKA_BROKERS (default 127.0.0.1:9092) and SCHEMA_REGISTRY_URL, as npm run -s stack:env prints them.`;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `10m`, `1h30m`, `2d`, `1.5h` in ms; undefined for anything else (a bare number has no unit). */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}

/**
 * The moment `--since` names, in ms since the epoch: a duration back from `now`, or an ISO 8601 date or
 * date-time. A date-time without an offset is read as UTC, as every time the tools print is UTC, so the
 * answer does not depend on the machine's zone.
 */
export function parseSince(text: string, now: Date): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return now.getTime() - duration;
  const iso = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text);
  if (!iso) {
    throw new UsageError(`--since ${text}: not a duration (90s, 10m, 1h30m, 2d) nor an ISO 8601 time (2025-06-01T12:00:00Z)`);
  }
  const [, date, time, zone] = iso;
  const at = Date.parse(time ? `${date}T${time}${zone ?? 'Z'}` : `${date}T00:00:00Z`);
  if (!Number.isFinite(at)) throw new UsageError(`--since ${text}: not a valid time`);
  if (at > now.getTime()) throw new UsageError(`--since ${text}: that is in the future`);
  return at;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** An order id as the services store it: a UUID, lower case. */
export function parseOrderId(text: string, what = 'order id'): string {
  if (!UUID.test(text)) throw new UsageError(`${what} ${JSON.stringify(text)} is not a UUID`);
  return text.toLowerCase();
}

/**
 * Reads the command line (after `npm run events --`). `knownTypes`, when given, are the event types there
 * are: another `--type` is refused rather than silently matching nothing. Whether the topics exist is for
 * the broker to say. Throws a UsageError for anything it does not understand.
 */
export function parseEventsArgs(argv: string[], now: Date = new Date(), knownTypes?: string[]): EventsCommand {
  const parsed = parseCommandLine({
    args: argv,
    allowPositionals: false,
    strict: true,
    options: {
      topic: { type: 'string', multiple: true },
      order: { type: 'string' },
      type: { type: 'string' },
      'from-beginning': { type: 'boolean' },
      since: { type: 'string' },
      follow: { type: 'boolean' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const { values } = parsed;
  if (values.help) return { command: 'help' };

  const topics = values.topic ?? DEFAULT_TOPICS;
  for (const topic of topics) if (!TOPIC.test(topic)) throw new UsageError(`--topic ${JSON.stringify(topic)}: not a topic name`);

  const type = values.type ?? null;
  if (type !== null && knownTypes && !knownTypes.includes(type)) {
    throw new UsageError(`--type ${type}: no such event type (${knownTypes.join(', ')})`);
  }

  if (values['from-beginning'] && values.since !== undefined) throw new UsageError('--from-beginning and --since exclude each other');
  let start: Start = { from: 'end' };
  if (values['from-beginning']) start = { from: 'beginning' };
  else if (values.since !== undefined) start = { from: 'time', at: parseSince(values.since, now) };

  let limit: number | null = null;
  if (values.limit !== undefined) {
    if (!/^\d{1,9}$/.test(values.limit) || Number(values.limit) === 0)
      throw new UsageError(`--limit ${values.limit}: not a positive whole number`);
    limit = Number(values.limit);
  }

  return {
    command: 'read',
    topics: [...new Set(topics)],
    order: values.order === undefined ? null : parseOrderId(values.order, '--order'),
    type,
    start,
    follow: values.follow ?? start.from === 'end',
    limit,
    json: values.json ?? false,
  };
}
