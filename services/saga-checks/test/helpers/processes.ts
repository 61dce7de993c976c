import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { settings, stackEnvironment } from '@cdc-outbox-saga/local-stack';
import { freePort, waitFor } from './discovery.js';

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
    await waitFor(
      `${name} answering on ${url}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${output.slice(-2000)}`);
        return (await fetch(`${url}/health`)).status;
      },
      (status) => status === 200,
      30_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, log: () => output, stop };
}

/**
 * A gateway of the test's own, on free ports, out of Eureka and the config service, with the stack's token
 * key: `config` is its node-config override (routes with fixed `targets`, a rate limit a test can count on).
 * Its log goes to the OS temp folder, deleted once it stopped.
 */
export async function runOwnGateway(config: Record<string, unknown>): Promise<Child> {
  const port = await freePort();
  const logPath = join(tmpdir(), `gateway-of-test-${port}.log`);
  const child = await runService(
    'gateway',
    port,
    {
      INSTANCE_ID: `gateway-of-test-${port}`,
      EUREKA_URL: 'off',
      CONFIG_SERVER_URL: '',
      JWT_PUBLIC_KEY_FILE: settings.publicKeyFile,
      // Off the stack gateway's management port.
      MANAGEMENT_PORT: String(await freePort()),
      NODE_CONFIG: JSON.stringify(config),
    },
    logPath,
  );
  return {
    ...child,
    async stop() {
      await child.stop();
      rmSync(logPath, { force: true });
    },
  };
}
