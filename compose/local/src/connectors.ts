import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpJson } from './component.js';
import { settings } from './settings.js';

export interface ConnectorStatus {
  name: string;
  connector: { state: string; trace?: string };
  tasks: Array<{ id: number; state: string; trace?: string }>;
}

/** The connector configs in connectors/: the file name (without .json) is the connector's name. */
export function connectorFiles(): Array<{ name: string; config: Record<string, string> }> {
  return readdirSync(settings.connectorsDir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({
      name: basename(file, '.json'),
      config: JSON.parse(readFileSync(join(settings.connectorsDir, file), 'utf8')) as Record<string, string>,
    }));
}

export async function connectorStatus(connectUrl: string, name: string): Promise<ConnectorStatus> {
  return httpJson<ConnectorStatus>(`${connectUrl}/connectors/${encodeURIComponent(name)}/status`);
}

function isRunning(status: ConnectorStatus): boolean {
  return (
    status.connector.state === 'RUNNING' &&
    status.tasks.length > 0 &&
    status.tasks.every((task) => task.state === 'RUNNING')
  );
}

/**
 * Registers every connector in connectors/ with PUT /connectors/<name>/config (creates or updates, so
 * running it again changes nothing), then waits until each connector and all its tasks are RUNNING.
 *
 * A FAILED connector or task is restarted (its failed parts only), up to twice: the state may be stale,
 * read back from Connect's status topic after a run that lost its database, or the failure transient. A
 * third failure ends the wait with Connect's stack trace.
 */
export async function registerConnectors(connectUrl: string, timeoutMs = 90_000): Promise<void> {
  const files = connectorFiles();
  for (const { name, config } of files) {
    await httpJson(`${connectUrl}/connectors/${encodeURIComponent(name)}/config`, {
      method: 'PUT',
      body: JSON.stringify(config),
    });
  }
  const deadline = Date.now() + timeoutMs;
  for (const { name } of files) {
    let restarts = 0;
    for (;;) {
      let status: ConnectorStatus | undefined;
      try {
        status = await connectorStatus(connectUrl, name);
      } catch {
        // 404 until the worker has picked the new config up from its config topic.
      }
      if (status && isRunning(status)) break;
      const failed = status && [status.connector, ...status.tasks].find((s) => s.state === 'FAILED');
      if (failed && restarts >= 2) throw new Error(`connector ${name} FAILED:\n${failed.trace ?? '(no trace)'}`);
      if (failed) {
        restarts++;
        console.log(`  … connector ${name} is FAILED (${firstLine(failed.trace)}); restarting it (${restarts}/2)`);
        await httpJson(`${connectUrl}/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`, {
          method: 'POST',
        });
        await sleep(1000);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`connector ${name} not RUNNING after ${timeoutMs / 1000}s: ${JSON.stringify(status)}`);
      }
      await sleep(250);
    }
  }
}

function firstLine(trace: string | undefined): string {
  return (trace ?? 'no trace').split('\n')[0]!.slice(0, 200);
}
