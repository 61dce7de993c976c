import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { settings, stackEnvironment } from '@cdc-outbox-saga/local-stack';
import { waitFor } from './discovery.js';

export interface Child {
  url: string;
  /** Everything it logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Runs one of the repository's Node services (`services/<name>/dist/src/main.js`) as a process of its own
 * with the stack's environment plus `env`, and waits until `<url>/health` answers 200.
 */
export async function runService(name: string, port: number, env: Record<string, string>, logPath: string): Promise<Child> {
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const file = createWriteStream(logPath);
  const child: ChildProcess = spawn(process.execPath, [join(settings.repoRoot, 'services', name, 'dist/src/main.js')], {
    cwd: join(settings.repoRoot, 'services', name),
    env: { ...process.env, ...stackEnvironment(), PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      output += chunk;
      file.write(chunk);
    });
  }
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    file.end();
  };
  try {
    await waitFor(`${name} answering on ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${output.slice(-2000)}`);
      return (await fetch(`${url}/health`)).status;
    }, (status) => status === 200, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, log: () => output, stop };
}
