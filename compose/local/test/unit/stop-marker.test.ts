import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// settings.ts reads STACK_DIR once, at import: point it at a fresh folder first, then import.
const stackDir = mkdtempSync(join(tmpdir(), 'stop-marker-'));
process.env.STACK_DIR = stackDir;
const { launch, markedStopped, terminate } = await import('../../src/processes.js');
const { stopComponents } = await import('../../src/stack.js');

test.after.always(() => rmSync(stackDir, { recursive: true, force: true }));

const sleeper = { command: 'sleep', args: ['30'] };

/** What another process (the supervisor of `npm test`, while an ava worker stops a component) reads. */
function markedStoppedElsewhere(name: string): boolean {
  const processes = new URL('../../src/processes.js', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(processes)}); process.stdout.write(String(m.markedStopped(${JSON.stringify(name)})))`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, STACK_DIR: stackDir },
    encoding: 'utf8',
  });
  return child.stdout === 'true';
}

test.serial('a stop marks the component as stopped on purpose, for every process to see, until it is started again', async (t) => {
  launch('marked', sleeper, 'session-a');
  t.false(markedStopped('marked'));
  t.true(await terminate('marked', { graceMs: 1000 }));
  t.true(markedStopped('marked'));
  t.true(markedStoppedElsewhere('marked'));

  const pid = launch('marked', sleeper, 'session-a');
  t.teardown(() => process.kill(pid, 'SIGKILL'));
  t.false(markedStopped('marked'), 'starting it clears the mark');
  t.false(markedStoppedElsewhere('marked'));
});

test.serial("a session's stop of a component another session owns leaves it, and its mark, alone", async (t) => {
  const pid = launch('theirs', sleeper, 'session-b');
  t.teardown(() => process.kill(pid, 'SIGKILL'));
  t.false(await terminate('theirs', { owner: 'session-a', graceMs: 1000 }));
  t.false(markedStopped('theirs'));
});

test.serial('the stop API marks a component even when it is down already: whoever stops it wants it down', async (t) => {
  const owners = await stopComponents(['not-running']);
  t.is(owners.get('not-running'), 'manual');
  t.true(markedStopped('not-running'));
});
