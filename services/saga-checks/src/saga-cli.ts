import { kafkaBrokers, registryUrl } from './command-line.js';
import { EventCodec, createSchemaRegistry } from '@cdc-outbox-saga/platform';
import { Kafka, logLevel } from 'kafkajs';
import { closeDatabases, openDatabases } from './databases.js';
import { orderDeadlineSeconds } from './order-deadline.js';
import { parseSagaArgs, sagaUsage, type SagaCommand } from './saga-args.js';
import { formatStory } from './saga-format.js';
import { readSagaFacts } from './saga-read.js';
import { sagaStory } from './saga-story.js';

// npm run saga -- <orderId> [--json]: see `sagaUsage` in saga-args.ts and the README's "Troubleshooting".
// Exit 0 with the story, 1 for an unknown order or a failed read, 2 for a command line it does not understand.

const brokers = kafkaBrokers();
const registry = registryUrl();

async function run(command: Extract<SagaCommand, { command: 'story' }>): Promise<void> {
  const kafka = new Kafka({ clientId: 'saga-cli', brokers, logLevel: logLevel.NOTHING });
  const codec = new EventCodec(createSchemaRegistry(registry));
  const deadlineSeconds = await orderDeadlineSeconds(command.deadlineSeconds);
  const dbs = openDatabases();
  try {
    const facts = await readSagaFacts(dbs, kafka, codec, command.orderId, deadlineSeconds);
    if ('unknown' in facts) {
      const elsewhere = facts.elsewhere.length > 0 ? `; ${facts.elsewhere.join(' and ')} still hold a row for it` : '';
      process.stderr.write(`saga: no order ${command.orderId}: the order database has no saga record for it${elsewhere}\n`);
      process.exitCode = 1;
      return;
    }
    const story = sagaStory(facts);
    process.stdout.write(`${command.json ? JSON.stringify(story, null, 2) : formatStory(story)}\n`);
  } finally {
    await closeDatabases(dbs);
  }
}

let command: SagaCommand | undefined;
try {
  command = parseSagaArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`saga: ${(error as Error).message} (npm run saga -- --help: usage)\n`);
  process.exitCode = 2;
}
if (command?.command === 'help') {
  process.stdout.write(`${sagaUsage}\n`);
} else if (command) {
  try {
    await run(command);
  } catch (error) {
    process.stderr.write(`saga: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
