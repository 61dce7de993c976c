import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Component } from '../../src/component.js';
import type { ConnectApi } from '../../src/connectors.js';

// settings.ts reads STACK_DIR once, at import: point it at a fresh folder first, then import.
const stackDir = mkdtempSync(join(tmpdir(), 'supervisor-'));
process.env.STACK_DIR = stackDir;
const { settings } = await import('../../src/settings.js');
const { launch, recordedPid, terminate } = await import('../../src/processes.js');
const { readRestarts } = await import('../../src/restarts.js');
const { Supervisor } = await import('../../src/supervisor.js');

test.after.always(() => rmSync(stackDir, { recursive: true, force: true }));

// Fast, so the loop is seen through a whole series in a second or two; the real one is 1 s to 16 s.
const policy = { firstDelayMs: 50, maxDelayMs: 200, stableAfterMs: 60_000, maxFailedRestarts: 2 };

/**
 * Not a stand-in for any stack component: a process for the supervisor loop to watch. It runs until
 * killed and says it is ready by writing its pid to a file; with `crash` set, it exits at once with code 3.
 */
function sleeper(name: string) {
  const readyFile = join(stackDir, `${name}.ready`);
  const writeReady = `require('fs').writeFileSync(${JSON.stringify(readyFile)}, String(process.pid))`;
  const fake = { crash: false };
  const component: Component = {
    name,
    url: '(a test process)',
    startTimeoutMs: 5000,
    isReady: async () => {
      try {
        return Number(readFileSync(readyFile, 'utf8')) === recordedPid(name);
      } catch {
        return false;
      }
    },
    launchSpec: () => ({
      command: process.execPath,
      args: ['-e', fake.crash ? 'process.exit(3)' : `${writeReady}; setInterval(() => {}, 1000)`],
    }),
  };
  return { component, fake };
}

async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Launches it as `up` would, for `owner`, and waits until it is ready. */
async function started(component: Component, owner = 'session-a'): Promise<number> {
  const pid = launch(component.name, component.launchSpec(), owner);
  await until(`${component.name} ready`, component.isReady);
  return pid;
}

function supervise(
  t: { teardown(fn: () => Promise<void>): void },
  components: Component[],
  extra: { connect?: ConnectApi | ConnectApi[] } = {},
) {
  const lines: string[] = [];
  const log = (line: string) => void lines.push(line);
  const supervisor = new Supervisor({ owner: 'session-a', components, policy, pollMs: 25, connectorPollMs: 25, log, ...extra });
  supervisor.start();
  t.teardown(async () => {
    await supervisor.stop();
    for (const component of components) await terminate(component.name, { graceMs: 500 });
  });
  return lines;
}

// Serial: one test's stopping.<pid> marker would hold back the other tests' restarts.
test.serial('a killed component is launched again after the first delay, answers again, and the restart is recorded', async (t) => {
  const { component } = sleeper('killed');
  const pid = await started(component);
  const lines = supervise(t, [component]);
  process.kill(pid, 'SIGKILL');
  const again = await until('a new process', () => recordedPid('killed') !== pid && recordedPid('killed'));
  await until('the back line', () => lines.some((line) => line.startsWith('✓ killed back after')));
  t.not(again, pid);
  t.true(await component.isReady());
  t.is(lines[0], '✗ killed exited (signal SIGKILL) — restarting in 0.05s (restart 1)');
  t.like(readRestarts('killed'), { restarts: 1, lastCause: 'exited (signal SIGKILL)', gaveUp: false });
});

test.serial('a component stopped on purpose is left down; started again, it is watched again', async (t) => {
  const { component } = sleeper('stopped');
  await started(component);
  const lines = supervise(t, [component]);
  await terminate('stopped', { graceMs: 1000 }); // what stopComponents, npm stop and Ctrl-C do
  await until('the stopped line', () => lines.includes('■ stopped was stopped on purpose; not restarting it'));
  await sleep(300);
  t.is(recordedPid('stopped'), undefined, 'not restarted');

  const pid = await started(component); // startComponents: the same owner again
  await until('watching it again', () => lines.some((line) => line.startsWith('• stopped is running again')));
  process.kill(pid, 'SIGKILL');
  await until('restarted', () => lines.some((line) => line.startsWith('✓ stopped back after')));
  t.like(readRestarts('stopped'), { restarts: 1 });
});

test.serial('nothing is restarted while another process is stopping components', async (t) => {
  const { component } = sleeper('during-stop');
  const pid = await started(component);
  // Another process in the middle of `npm stop` (whileStopping): a live pid behind a stopping.<pid> marker.
  const stopper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => void stopper.kill('SIGKILL'));
  const marker = join(settings.runDir, `stopping.${stopper.pid}`);
  writeFileSync(marker, '');
  const lines = supervise(t, [component]);
  process.kill(pid, 'SIGKILL');
  await sleep(400);
  t.is(recordedPid('during-stop'), undefined);
  t.deepEqual(lines, []);
  // That stop ended without stopping this one (it was not its to stop): it died on its own, so it comes back.
  rmSync(marker);
  await until('restarted', () => lines.some((line) => line.startsWith('✓ during-stop back after')));
});

test.serial('a component another session has started since is not restarted by this one', async (t) => {
  const { component } = sleeper('taken');
  await started(component);
  const lines = supervise(t, [component]);
  await terminate('taken', { graceMs: 1000 });
  const theirs = await started(component, 'session-b');
  await until('handed over', () => lines.some((line) => line.startsWith('• taken was started again by another session')));
  process.kill(theirs, 'SIGKILL');
  await sleep(300);
  t.is(recordedPid('taken'), undefined);
  t.false(lines.some((line) => line.startsWith('✗')));
});

test.serial('a component whose restarts keep failing is given up on loudly after the last one, and left down', async (t) => {
  const { component, fake } = sleeper('crashing');
  const pid = await started(component);
  const lines = supervise(t, [component]);
  fake.crash = true;
  process.kill(pid, 'SIGTERM');
  await until('giving up', () => lines.some((line) => line.includes('GIVING UP on crashing')));
  t.deepEqual(lines.slice(0, 2), [
    '✗ crashing exited (signal SIGTERM) — restarting in 0.05s (restart 1)',
    '✗ crashing exited while restarting (code 3) — restarting in 0.1s (restart 2)',
  ]);
  t.true(lines[2]!.startsWith('✗ crashing exited while restarting (code 3): 2 restarts in a row did not last 60s.'));
  t.like(readRestarts('crashing'), { restarts: 2, lastCause: 'exited while restarting (code 3)', gaveUp: true });
  await sleep(300);
  t.is(recordedPid('crashing'), undefined);
  t.is(lines.length, 3, 'no restart after giving up');
});

test.serial(
  "a FAILED connector is restarted through Connect's REST API, every request with the worker's credentials; a worker that does not answer is passed over for the next",
  async (t) => {
    const { createServer } = await import('node:http');
    const { connectAuthorization } = await import('../../src/connectors.js');
    const api = { url: '', username: 'connect', password: 'a-long-random-secret-0123456789' };
    const requests: Array<{ method: string; path: string; authorized: boolean }> = [];
    let restarted = false;
    const server = createServer((req, res) => {
      const authorized = req.headers.authorization === connectAuthorization(api);
      requests.push({ method: req.method!, path: req.url!, authorized });
      if (!authorized) {
        res.writeHead(401).end('User cannot access the resource.');
      } else if (req.method === 'POST') {
        restarted = true;
        res.writeHead(202).end();
      } else {
        const task = restarted ? { id: 0, state: 'RUNNING' } : { id: 0, state: 'FAILED', trace: 'boom\n\tat somewhere' };
        const status = { name: 'order-outbox', connector: { state: 'RUNNING' }, tasks: [task] };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ 'order-outbox': { status } }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => void server.close());
    api.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    // The group's first worker is down (nothing listens on port 9, discard): the other answers for the group.
    const lines = supervise(t, [], { connect: [{ ...api, url: 'http://127.0.0.1:9' }, api] });
    await until('the connector back', () => lines.some((line) => line.startsWith('✓ connector order-outbox RUNNING again after')));
    t.true(lines.some((line) => line.startsWith('✗ connector order-outbox: task 0 FAILED (boom)')));
    t.true(requests.some((r) => r.method === 'POST' && r.path === '/connectors/order-outbox/restart?includeTasks=true&onlyFailed=true'));
    t.true(
      requests.every((r) => r.authorized),
      'no request without the credentials',
    );
  },
);
