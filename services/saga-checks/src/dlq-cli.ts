import { kafkaBrokers } from './command-line.js';
import { Kafka, logLevel } from 'kafkajs';
import { planRedrive } from './dlq.js';
import { parseDlqArgs, usage, type DlqCommand } from './dlq-args.js';
import { entryJson, formatList, summarise } from './dlq-format.js';
import { dlqTopics, readDlq, redrive, type RedriveResult } from './dlq-kafka.js';

// npm run dlq -- [list | redrive ...]: see `usage` in dlq-args.ts and the README's "Dead letters" section.
// Exit 0 on success, 1 when something was refused or failed, 2 for a command line it does not understand;
// messages about failures go to stderr, results (the listing, what was re-driven, --json) to stdout.

const brokers = kafkaBrokers();

const print = (text: string) => process.stdout.write(`${text}\n`);
const json = (value: unknown) => print(JSON.stringify(value, null, 2));

async function run(command: Exclude<DlqCommand, { command: 'help' }>): Promise<void> {
  const kafka = new Kafka({ clientId: 'dlq-cli', brokers, logLevel: logLevel.NOTHING });
  if (command.command === 'list') {
    const topics = await dlqTopics(kafka, command.topics);
    const entries = await readDlq(kafka, topics);
    if (command.json) json({ topics: summarise(topics, entries), entries: entries.map(entryJson) });
    else print(formatList(topics, entries));
    return;
  }

  const topics = await dlqTopics(kafka, command.all ? command.topics : command.targets.map((target) => target.topic));
  const entries = await readDlq(kafka, topics);
  const plan = planRedrive(entries, { ...command, now: new Date() });
  const alreadyRedriven = plan.skipped.filter((s) => s.reason.startsWith('re-driven already'));
  const otherSkips = plan.skipped.filter((s) => !alreadyRedriven.includes(s));

  if (command.dryRun) {
    const wouldRedrive = plan.steps.map((step) => ({
      from: step.entries.map((entry) => entry.id),
      eventType: step.entries[0]!.eventType,
      eventId: step.entries[0]!.eventId,
      key: step.entries[0]!.key,
      topic: step.topic,
    }));
    if (command.json) {
      json({ dryRun: true, wouldRedrive, skipped: plan.skipped });
    } else {
      for (const step of wouldRedrive) print(`would re-drive ${step.from.join(' + ')} (${step.eventType} ${step.key}) to ${step.topic}`);
      reportSkips(alreadyRedriven.length, otherSkips);
      print(`dry run: ${wouldRedrive.length} message(s) would be re-driven, nothing produced`);
    }
    return;
  }

  const onStep = (r: RedriveResult) => {
    if (!command.json) print(`re-driven ${r.from.join(' + ')} (${r.eventType} ${r.key}) to ${r.to}`);
  };
  let results: RedriveResult[];
  try {
    results = await redrive(kafka, plan, () => new Date(), onStep);
  } catch (error) {
    // What was done before the failure has been printed (or is in the markers); say where it stopped.
    throw new Error(`re-driving stopped: ${(error as Error).message}; run list to see what was re-driven`, { cause: error });
  }
  if (command.json) {
    json({ redriven: results, skipped: plan.skipped });
  } else {
    reportSkips(alreadyRedriven.length, otherSkips);
    print(results.length === 0 ? 'nothing to re-drive' : `${results.length} message(s) re-driven`);
  }
}

function reportSkips(alreadyRedriven: number, others: Array<{ id: string; reason: string }>): void {
  if (alreadyRedriven > 0) print(`skipped ${alreadyRedriven} message(s) re-driven already (--force re-drives them again)`);
  for (const skip of others) print(`skipped ${skip.id}: ${skip.reason}`);
}

let command: DlqCommand | undefined;
try {
  command = parseDlqArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`dlq: ${(error as Error).message}\n(npm run dlq -- --help: usage)\n`);
  process.exitCode = 2;
}
if (command?.command === 'help') {
  print(usage);
} else if (command) {
  try {
    await run(command);
  } catch (error) {
    process.stderr.write(`dlq: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
