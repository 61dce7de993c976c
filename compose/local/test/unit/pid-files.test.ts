import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// settings.ts reads STACK_DIR once, at import: point it at a fresh folder first, then import.
const stackDir = mkdtempSync(join(tmpdir(), 'pid-files-'));
process.env.STACK_DIR = stackDir;
const { settings } = await import('../../src/settings.js');
const { isAlive, launch, recordedPid, terminate } = await import('../../src/processes.js');

test.after.always(() => rmSync(stackDir, { recursive: true, force: true }));

test('a pid file that now names another program (a reboot, a reused pid) is stale: that program is never signalled', async (t) => {
  const started = launch('probe', { command: 'sleep', args: ['30'] }, 'session-a');
  t.teardown(() => process.kill(started, 'SIGKILL'));
  t.is(recordedPid('probe'), started, 'the process the stack started is recognised');

  // After a reboot the file names a pid that another program, not started by the stack, now has: the
  // file still carries the identity (boot id and start time) of the process the stack started then.
  const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => stranger.kill('SIGKILL'));
  const file = join(settings.runDir, 'probe.pid');
  const [, owner, identity] = readFileSync(file, 'utf8').trim().split(/\s+/);
  const [, startTicks] = identity!.split(':');
  const beforeReboot = `00000000-0000-0000-0000-000000000000:${startTicks}`;
  writeFileSync(file, `${stranger.pid} ${owner} ${beforeReboot}`);

  t.is(recordedPid('probe'), undefined);
  writeFileSync(file, `${stranger.pid} ${owner} ${beforeReboot}`);
  t.false(await terminate('probe', { graceMs: 1000 }), 'nothing to stop');
  t.true(isAlive(stranger.pid!), 'the other program was left alone');
});
