import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from '../../src/processes.js';

test('an exited process nobody has reaped (a zombie) does not count as alive', async (t) => {
  // `sleep 0.1` is a child of the process that becomes `sleep 5`, which never waits for it.
  const parent = spawn('bash', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => parent.kill('SIGKILL'));
  const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
  const zombie = Number(line.toString().trim());
  await sleep(500);
  t.notThrows(() => process.kill(zombie, 0), 'kill(pid, 0) still answers for a zombie');
  t.false(isAlive(zombie));
  t.true(isAlive(parent.pid!));
});

test('a pid that does not exist is not alive', (t) => {
  t.false(isAlive(2 ** 22 + 1));
});
