import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connectorFiles, stackConnectApis } from './connectors.js';
import { mintToken } from './dev-token.js';
import { components, down, downAll, restart, up, urls, type Session } from './stack.js';
import { markedStopped, recordedPid } from './processes.js';
import { connectorKey, readRestarts, type RestartRecord } from './restarts.js';
import { connectWorkers, settings, stackEnvironment } from './settings.js';
import { Supervisor } from './supervisor.js';

const usage = `usage: cli.js <command>
  up                 start (or reuse) the stack, print the URLs, stay in the foreground until Ctrl-C
  run-tests -- CMD   start (or reuse) the stack, run CMD with the stack's endpoints in its environment,
                     stop what was started, exit with CMD's status
  stop               stop every component the stack started (also those of another terminal)
  status             show which components answer, and what the supervisor restarted
  restart NAME       restart one component (${components.map((c) => c.name).join(', ')})
  reset              stop everything and delete the state folder (${settings.stateDir}); fetched artifacts stay
                     in the Maven repository, so the next start does not download them again
  env                the addresses a service started by hand needs (DB_PORT, KAFKA_BROKERS, EUREKA_URL, …), as KEY=value
  token [--sub NAME] [--scope "a b"] [--ttl SECONDS]
                     print a development JWT for the gateway (subject dev-user, one hour, no scopes unless
                     given), signed with the key in ${settings.stateDir}/secrets, made on first use; only the
                     token goes to stdout: TOKEN=$(npm run -s token)`;

/**
 * Runs `handler` on the first Ctrl-C / SIGTERM / SIGHUP and keeps the process alive through the next
 * ones: npm forwards the terminal's SIGINT to this process, so it arrives twice, and dying on the second
 * would leave half the stack running.
 */
function onSignals(handler: (signal: NodeJS.Signals) => void): void {
  let handled = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (handled) return;
      handled = true;
      handler(signal);
    });
  }
}

// A closed terminal or pipe (`npm start | tee log` and Ctrl-C) must not abort a stop half-way.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

/**
 * Watches what a session started and restarts it when it dies (its connectors too, if it started
 * Connect); a session that only reused a running stack leaves that to the terminal that started it.
 */
function supervise(session: Session): Supervisor | undefined {
  if (session.started.length === 0) return undefined;
  const supervisor = new Supervisor({
    owner: session.owner,
    components: components.filter((component) => session.started.includes(component.name)),
    connect: session.started.includes('connect') ? stackConnectApis() : undefined,
    connectWorkers: connectWorkers().map((worker) => worker.name),
  });
  supervisor.start();
  return supervisor;
}

async function commandUp(): Promise<void> {
  const session = await up();
  const { started } = session;
  console.log(`\nThe stack is up (state and logs in ${settings.stateDir}):\n${urls().join('\n')}`);
  console.log('\nEnvironment for services and tools:');
  for (const [key, value] of Object.entries(stackEnvironment())) console.log(`  ${key}=${value}`);
  if (started.length === 0) {
    console.log('\nEverything was already running; this terminal started nothing, so there is nothing to stop here.');
    return;
  }
  console.log(`\nCtrl-C stops what this command started (${started.join(', ')}); until then, any of them that dies is restarted.`);
  // The supervisor's timers keep the process (and so the terminal) attached until Ctrl-C.
  const supervisor = supervise(session)!;
  await new Promise<void>((resolve) => {
    onSignals(() => {
      console.log('\nstopping…');
      void supervisor
        .stop()
        .then(() => down(session))
        .then(resolve);
    });
  });
}

async function commandRunTests(command: string[]): Promise<number> {
  if (command.length === 0) throw new Error('run-tests needs a command after --');
  const session = await up();
  // The tests kill components on purpose (test/faults) and expect them back with no hand restart.
  const supervisor = supervise(session);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await supervisor?.stop();
    await down(session);
  };
  const [program, ...args] = command as [string, ...string[]];
  const child = spawn(program, args, { stdio: 'inherit', env: { ...process.env, ...stackEnvironment() } });
  onSignals((signal) => child.kill(signal));
  const code = await new Promise<number>((resolve) => {
    child.once('error', () => resolve(127));
    child.once('close', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
  });
  await stop();
  return code;
}

/** "restarts 2, last failure 2025-06-01T12:03:04Z exited (signal SIGKILL)", "GAVE UP after 5 restarts, …", or nothing. */
function restartSummary(record: RestartRecord | undefined): string {
  if (record === undefined || (record.restarts === 0 && record.lastCause === undefined)) return '';
  const count = record.gaveUp ? `GAVE UP after ${record.restarts} restarts, left down` : `restarts ${record.restarts}`;
  const last = record.lastFailureAt ? `, last failure ${record.lastFailureAt.replace(/\.\d+Z$/, 'Z')} ${record.lastCause}` : '';
  return count + last;
}

async function printStatus(): Promise<void> {
  for (const component of components) {
    // A component that answers as another stack's (isReady throws: another cluster mode's Kafka) is not this one's.
    const ready = await component.isReady().catch(() => false);
    const pid = recordedPid(component.name);
    const started = pid ? `pid ${pid}` : markedStopped(component.name) ? '(stopped on purpose)' : '(not started by the stack)';
    console.log(`${component.name.padEnd(9)} ${ready ? 'up  ' : 'down'} ${started}  ${component.url}`);
    const restarts = restartSummary(readRestarts(component.name));
    if (restarts) console.log(`${''.padEnd(15)}${restarts}`);
    if (component.name !== 'connect') continue;
    for (const { name } of connectorFiles()) {
      const summary = restartSummary(readRestarts(connectorKey(name)));
      if (summary) console.log(`${''.padEnd(15)}connector ${name}: ${summary}`);
    }
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      await commandUp();
      return 0;
    case 'run-tests':
      return commandRunTests(rest[0] === '--' ? rest.slice(1) : rest);
    case 'stop':
      await downAll();
      return 0;
    case 'status':
      await printStatus();
      return 0;
    case 'restart':
      if (!rest[0]) throw new Error('restart needs a component name');
      await restart(rest[0]);
      return 0;
    case 'env':
      // KEY=value lines a shell can load (set -a; . <(npm run -s stack:env)), for a process started by hand.
      for (const [key, value] of Object.entries(stackEnvironment())) console.log(`${key}=${value}`);
      return 0;
    case 'reset':
      await downAll();
      rmSync(settings.stateDir, { recursive: true, force: true });
      console.log(`removed ${settings.stateDir}`);
      return 0;
    case 'token': {
      const { values } = parseArgs({
        args: rest,
        options: { sub: { type: 'string' }, scope: { type: 'string' }, ttl: { type: 'string' } },
        strict: true,
      });
      const ttlSeconds = values.ttl === undefined ? 3600 : Number(values.ttl);
      const token = await mintToken({
        subject: values.sub ?? 'dev-user',
        scopes: (values.scope ?? '').split(/\s+/).filter(Boolean),
        ttlSeconds,
      });
      // Nothing else on stdout: `TOKEN=$(npm run -s token)` takes all of it. Written before the exit that follows.
      await new Promise<void>((resolve) => process.stdout.write(`${token}\n`, () => resolve()));
      return 0;
    }
    default:
      console.error(usage);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`✗ ${(error as Error).message}`);
    process.exit(1);
  },
);
