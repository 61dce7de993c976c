import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { settings, stackEnvironment } from '@cdc-outbox-saga/local-stack';

const run = promisify(execFile);
const env = () => ({ ...process.env, ...stackEnvironment() });

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built CLI `services/saga-checks/dist/src/<name>-cli.js`, as `npm run <name>` runs it after building. */
export const cliPath = (name: string) => join(settings.repoRoot, 'services/saga-checks/dist/src', `${name}-cli.js`);

/** Runs one of the saga-checks CLIs to its end with the stack's environment; its exit status and output, whatever the status. */
export async function runCli(name: string, args: string[], timeoutMs = 120_000): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath(name), ...args], {
      cwd: settings.repoRoot,
      env: env(),
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A CLI left running (`events --follow`): what it printed so far, and its end. */
export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

export function spawnCli(name: string, args: string[]): RunningCli {
  const child = spawn(process.execPath, [cliPath(name), ...args], {
    cwd: settings.repoRoot,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}
