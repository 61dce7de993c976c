import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mintToken } from './dev-token.js';
import { components, down, downAll, restart, up, urls } from './stack.js';
import { logTail, recordedPid } from './processes.js';
import { settings, stackEnvironment } from './settings.js';

const usage = `usage: cli.js <command>
  up                 start (or reuse) the stack, print the URLs, stay in the foreground until Ctrl-C
  run-tests -- CMD   start (or reuse) the stack, run CMD with the stack's endpoints in its environment,
                     stop what was started, exit with CMD's status
  stop               stop every component the stack started (also those of another terminal)
  status             show which components answer
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
  console.log(`\nCtrl-C stops what this command started (${started.join(', ')}).`);
  await new Promise<void>((resolve) => {
    // Keeps the process (and so the terminal) attached, and says so when a component dies on its own.
    // A component being restarted (by a test, or `npm run stack -- restart`) is briefly without a pid:
    // only one missing for three checks in a row has really gone.
    const misses = new Map<string, number>();
    const watchdog = setInterval(() => {
      for (const name of started) {
        const missed = recordedPid(name) === undefined ? (misses.get(name) ?? 0) + 1 : 0;
        misses.set(name, missed);
        if (missed === 3) console.error(`\n✗ ${name} exited; last lines of its log:\n${logTail(name)}`);
      }
    }, 5000);
    onSignals(() => {
      clearInterval(watchdog);
      console.log('\nstopping…');
      void down(session).then(resolve);
    });
  });
}

async function commandRunTests(command: string[]): Promise<number> {
  if (command.length === 0) throw new Error('run-tests needs a command after --');
  const session = await up();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
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
      for (const component of components) {
        const ready = await component.isReady();
        const pid = recordedPid(component.name);
        console.log(
          `${component.name.padEnd(9)} ${ready ? 'up  ' : 'down'} ${pid ? `pid ${pid}` : '(not started by the stack)'}  ${component.url}`,
        );
      }
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
