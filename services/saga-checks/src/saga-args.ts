import { UsageError, parseCommandLine } from './command-line.js';
import { parseOrderId } from './events-args.js';

export type SagaCommand = { command: 'help' } | { command: 'story'; orderId: string; json: boolean; deadlineSeconds: number | undefined };

export const sagaUsage = `usage: npm run saga -- <orderId> [--json] [--deadline-seconds N]

  The story of one order, in time order: its events on the three topics (partition:offset, when Connect
  produced each, the hop from its outbox row), the product and user services' decisions and the saga record
  with when each was written, dead letters carrying its id (why, and whether re-driven), and where it is now:
  its outcome, or the step it waits for, for how long, and how long before the saga deadline cancels it.
  --json                one JSON document: { orderId, saga, state, story }
  --deadline-seconds N  the deadline to measure against (default: what the config service serves the order
                        service, else its default.json)

Exit 0 with the story, 1 when the order is unknown or something could not be read, 2 for a bad command line.
The stack: its databases as the native stack's settings name them (STACK_DB_PORT, STACK_DIR) and read as the
auditor, with the password generated into .stack/secrets; KAFKA_BROKERS and SCHEMA_REGISTRY_URL as npm run -s
stack:env prints them.`;

/** Reads the command line (after `npm run saga --`). Throws a UsageError for anything it does not understand. */
export function parseSagaArgs(argv: string[]): SagaCommand {
  const parsed = parseCommandLine({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      'deadline-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'which order? give its id' : `one order id, not ${positionals.length}`);
  }
  const deadline = values['deadline-seconds'];
  if (deadline !== undefined && !/^\d{1,7}$/.test(deadline))
    throw new UsageError(`--deadline-seconds ${deadline}: not a whole number of seconds`);
  return {
    command: 'story',
    orderId: parseOrderId(positionals[0]!),
    json: values.json ?? false,
    deadlineSeconds: deadline === undefined ? undefined : Number(deadline),
  };
}
