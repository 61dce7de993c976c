import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { settings } from './settings.js';

/** What the supervisor did about one component or connector, shown by `npm run status`. */
export interface RestartRecord {
  /** Restarts made: processes launched again, connectors told to restart. */
  restarts: number;
  /** When it last failed (ISO time), and how. */
  lastFailureAt?: string;
  lastCause?: string;
  /** When a restart last answered its readiness check again, or a connector was seen RUNNING again (ISO time). */
  lastBackAt?: string;
  /** It kept failing after the last restart the policy allows: the supervisor left it down. */
  gaveUp: boolean;
}

/** The record key of a Kafka Connect connector (component names never start with it). */
export const connectorKey = (name: string) => `connector.${name}`;

// One file per key, not one file for all: two supervisors (two terminals that started different parts)
// would otherwise lose each other's updates in their read-modify-write.
function file(key: string): string {
  return join(settings.restartsDir, `${key}.json`);
}

export function readRestarts(key: string): RestartRecord | undefined {
  try {
    return JSON.parse(readFileSync(file(key), 'utf8')) as RestartRecord;
  } catch {
    return undefined;
  }
}

/** Applies `change` to a key's record and writes it whole (rename), so `status` never reads half of it. */
export function updateRestarts(key: string, change: (record: RestartRecord) => void): void {
  const record = readRestarts(key) ?? { restarts: 0, gaveUp: false };
  change(record);
  mkdirSync(settings.restartsDir, { recursive: true });
  const temporary = `${file(key)}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record)}\n`);
  renameSync(temporary, file(key));
}

/** Forgets the records of `keys`: a supervisor that starts watching them begins a new history. */
export function clearRestarts(keys: string[]): void {
  if (!existsSync(settings.restartsDir)) return;
  for (const key of keys) rmSync(file(key), { force: true });
}
