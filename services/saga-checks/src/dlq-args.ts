import { DEFAULT_MAX_AGE_HOURS, DLQ_SUFFIX, isDlqTopic, type Coordinates } from './dlq.js';
import { UsageError, parseCommandLine } from './command-line.js';

// The command line of `npm run dlq`: what it takes, the usage text that says so, and its parsing.

/** Parses `<dlqTopic>:<partition>:<offset>` (topic names cannot contain ':'). */
export function parseCoordinates(text: string): Coordinates {
  const match = /^([A-Za-z0-9._-]+):(\d+):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`"${text}" is not <dlqTopic>:<partition>:<offset>, e.g. order.events.dlq:0:12`);
  const [, topic, partition, offset] = match as unknown as [string, string, string, string];
  if (!isDlqTopic(topic)) throw new UsageError(`"${topic}" is not a DLQ topic (its name ends in ${DLQ_SUFFIX})`);
  if (partition.length > 9) throw new UsageError(`partition ${partition} is out of range`);
  return { topic, partition: Number(partition), offset: BigInt(offset).toString() };
}

/** A command line, read: help, a listing, or a re-drive and what it is to take. */
export type DlqCommand =
  | { command: 'help' }
  | { command: 'list'; topics: string[]; json: boolean }
  | {
      command: 'redrive';
      topics: string[];
      json: boolean;
      all: boolean;
      targets: Coordinates[];
      force: boolean;
      allowOld: boolean;
      dryRun: boolean;
    };

/** What `npm run dlq -- --help` prints. */
export const usage = `usage: npm run dlq -- [list] [--topic <name>.dlq]... [--json]
       npm run dlq -- redrive (--all [--topic <name>.dlq]... | <dlqTopic>:<partition>:<offset>...)
                              [--force] [--allow-old] [--dry-run] [--json]

  list      every message on every DLQ topic (*.dlq), or on the --topic ones: where it is, its event type,
            event id and key (the order id), the consumer group that failed it, when and why, and whether
            it has been re-driven already
  redrive   produce the chosen messages (or --all not yet re-driven) again to their original topic, with
            their original key, value and headers, and record the re-drive on the DLQ topic
            --force       re-drive messages that were re-driven already
            --allow-old   re-drive messages that failed more than ${DEFAULT_MAX_AGE_HOURS} h ago (see README: the other
                          groups' dedupe records may be gone)
            --dry-run     show what would be re-driven, produce nothing
  --json    one JSON document on stdout, for scripts

Kafka: KAFKA_BROKERS (default 127.0.0.1:9092), as npm run -s stack:env prints it.`;

/** Reads the command line (after `npm run dlq --`). Throws a UsageError for anything it does not understand. */
export function parseDlqArgs(argv: string[]): DlqCommand {
  const parsed = parseCommandLine({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      topic: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      force: { type: 'boolean' },
      'allow-old': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') return { command: 'help' };
  const [command = 'list', ...rest] = positionals;
  const topics = values.topic ?? [];
  for (const topic of topics) {
    if (!isDlqTopic(topic)) throw new UsageError(`--topic ${topic}: not a DLQ topic (its name ends in ${DLQ_SUFFIX})`);
  }
  const json = values.json ?? false;
  const redriveOnly = (['all', 'force', 'allow-old', 'dry-run'] as const).filter((name) => values[name] !== undefined);
  if (command === 'list') {
    if (rest.length > 0) throw new UsageError(`list takes no arguments, got ${rest.join(' ')}`);
    if (redriveOnly.length > 0) throw new UsageError(`--${redriveOnly[0]} belongs to redrive, not list`);
    return { command: 'list', topics, json };
  }
  if (command === 'redrive') {
    const all = values.all ?? false;
    if (all && rest.length > 0) throw new UsageError('redrive takes either --all or coordinates, not both');
    if (!all && rest.length === 0) throw new UsageError('redrive needs --all or <dlqTopic>:<partition>:<offset>...');
    if (!all && topics.length > 0) throw new UsageError('--topic narrows --all; coordinates already name their topic');
    return {
      command: 'redrive',
      topics,
      json,
      all,
      targets: rest.map(parseCoordinates),
      force: values.force ?? false,
      allowOld: values['allow-old'] ?? false,
      dryRun: values['dry-run'] ?? false,
    };
  }
  throw new UsageError(`unknown command "${command}" (list or redrive)`);
}
