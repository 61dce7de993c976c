import { EventCodec, createSchemaRegistry } from '@cdc-outbox-saga/platform';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaBrokers, registryUrl, UsageError } from './command-line.js';
import { eventsUsage, parseEventsArgs, type EventsCommand, type EventsOptions } from './events-args.js';
import { columnsFor, eventJsonLine, formatEvent, formatHeader } from './events-format.js';
import { knownEventTypes, readEvents, throwawayGroupId, type DecodedEvent } from './events.js';

// npm run events -- [options]: see `eventsUsage` in events-args.ts and the README's "Watching events".
// Exit 0 when done (Ctrl-C included), 1 when Kafka or the registry failed, 2 for a command line it does not
// understand or a topic that does not exist; events go to stdout, messages to stderr.

const brokers = kafkaBrokers();
const registry = registryUrl();

async function run(options: EventsOptions, types: string[] | undefined, signal: AbortSignal): Promise<void> {
  const kafka = new Kafka({ clientId: 'events-cli', brokers, logLevel: logLevel.NOTHING });
  const codec = new EventCodec(createSchemaRegistry(registry));
  const columns = columnsFor(options.topics, types);
  const groupId = throwawayGroupId();
  let printed = 0;
  /** Prints one record; true once the limit is reached. */
  const print = (event: DecodedEvent): boolean => {
    process.stdout.write(`${options.json ? eventJsonLine(event) : formatEvent(event, columns)}\n`);
    printed++;
    return options.limit !== null && printed >= options.limit;
  };
  await readEvents(
    kafka,
    codec,
    { topics: options.topics, start: options.start, follow: options.follow, key: options.order, type: options.type },
    {
      backlog: (events) => {
        if (!options.json) process.stdout.write(`${formatHeader(columns)}\n`);
        for (const event of events) if (print(event)) return true;
        if (options.follow) {
          process.stderr.write(
            `events: following ${options.topics.join(', ')} as consumer group ${groupId}, deleted at exit (Ctrl-C stops)\n`,
          );
        } else if (events.length === 0) {
          process.stderr.write('events: no event matched\n');
        }
        return false;
      },
      live: print,
    },
    { signal, groupId },
  );
}

const types = knownEventTypes();
let command: EventsCommand | undefined;
try {
  command = parseEventsArgs(process.argv.slice(2), new Date(), types);
} catch (error) {
  process.stderr.write(`events: ${(error as Error).message} (npm run events -- --help: usage)\n`);
  process.exitCode = 2;
}
if (command?.command === 'help') {
  process.stdout.write(`${eventsUsage}\n`);
} else if (command) {
  const stop = new AbortController();
  // The first Ctrl-C ends the read cleanly (consumer closed, its group deleted); a second one does not wait.
  process.on('SIGINT', () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  });
  process.on('SIGTERM', () => stop.abort());
  // A reader that went away (`| head`) ends the read like Ctrl-C.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop.abort();
  });
  try {
    await run(command, types, stop.signal);
  } catch (error) {
    process.stderr.write(`events: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
