import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line the tool does not understand: its CLI prints the message and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Node's `parseArgs`, strict, with whatever it refuses thrown as a UsageError. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The stack's Kafka and registry, as `npm run -s stack:env` prints them, for the command-line tools. */
export const kafkaBrokers = (): string[] => (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const registryUrl = (): string => process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
