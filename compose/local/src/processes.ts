import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { settings } from './settings.js';

export interface LaunchSpec {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export function logFile(name: string): string {
  return join(settings.logDir, `${name}.log`);
}

function pidFile(name: string): string {
  return join(settings.runDir, `${name}.pid`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * An exited process its parent has not reaped still answers kill(pid, 0). That happens to a component
 * started by a process that is gone (a test's worker) when PID 1 does not reap orphans, as in some
 * containers and VMs; waiting for such a pid to die would wait forever.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false; // no /proc (not Linux), or gone meanwhile
  }
}

export interface PidRecord {
  pid: number;
  /** The `up` session that started it: only that session's Ctrl-C stops it. */
  owner: string;
}

/**
 * Who a pid is: the boot it belongs to and its start time in clock ticks since that boot
 * (/proc/<pid>/stat, field 22). After a reboot, or once the process is gone and its pid reused, the same
 * pid is another process with another identity. Undefined where there is no /proc.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot}:${startTicks}`;
  } catch {
    return undefined;
  }
}

/** A component's pid and the session that owns it, if that process still runs; a stale pid file is removed. */
export function recordOf(name: string): PidRecord | undefined {
  let text: string;
  try {
    text = readFileSync(pidFile(name), 'utf8');
  } catch (error) {
    // No file, or one removed between a look and the read (a `stop` in another process): no record.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const [pidText, owner = '', identity] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  // A live pid that is not the process the stack started (a stale file after a reboot, a reused pid) is
  // someone else's: the file is forgotten, and nothing is ever signalled.
  const same = identity === undefined || identity === processIdentity(pid);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && same) return { pid, owner };
  forgetPid(name, pid);
  return undefined;
}

/**
 * Removes a component's pid file if it still names `pid`: by the time a stopped process is gone, another
 * session may already have started the component again and written its own pid there.
 */
function forgetPid(name: string, pid: number): void {
  const file = pidFile(name);
  try {
    if (Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]) !== pid) return;
  } catch {
    return; // already gone
  }
  rmSync(file, { force: true });
}

/** The pid recorded for a component, if that process still runs. Stale pid files are removed. */
export function recordedPid(name: string): number | undefined {
  return recordOf(name)?.pid;
}

/** The session that started a running component, if any. */
export function recordedOwner(name: string): string | undefined {
  return recordOf(name)?.owner;
}

/** Names of the components that have a pid file (running or not yet cleaned up). */
export function recordedNames(): string[] {
  if (!existsSync(settings.runDir)) return [];
  return readdirSync(settings.runDir)
    .filter((file) => file.endsWith('.pid'))
    .map((file) => file.slice(0, -'.pid'.length));
}

/** How each process this one launched ended, by pid: only a parent learns a child's exit status. */
const exits = new Map<number, Promise<string>>();

/**
 * How a process ended ("code 1", "signal SIGKILL"), if this process launched it; undefined for one
 * another process launched (a test's worker restarting a component), whose status only its parent saw.
 */
export async function exitCause(pid: number): Promise<string | undefined> {
  const exit = exits.get(pid);
  if (exit === undefined) return undefined;
  // The exit event follows the reaping at once, but a poll may see the pid gone (or a zombie) a moment before it.
  return Promise.race([exit, sleep(1000).then(() => undefined)]);
}

/**
 * Starts a component detached, in its own process group, so that Ctrl-C in the terminal reaches only
 * this CLI, which then stops the components in order. Output is appended to the component's log file.
 * Starting a component ends its stop on purpose (`markedStopped`).
 */
export function launch(name: string, spec: LaunchSpec, owner: string): number {
  mkdirSync(settings.runDir, { recursive: true });
  mkdirSync(settings.logDir, { recursive: true });
  const out = openSync(logFile(name), 'a');
  writeFileSync(out, `\n---- ${new Date().toISOString()} starting ${name}: ${spec.command} ${spec.args.join(' ')}\n`);
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd ?? settings.stateDir,
    env: { ...process.env, ...spec.env },
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not spawn ${spec.command}`);
  exits.set(
    child.pid,
    new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`))),
  );
  child.unref();
  writeFileSync(pidFile(name), `${child.pid} ${owner} ${processIdentity(child.pid) ?? ''}`.trim());
  rmSync(stoppedFile(name), { force: true });
  return child.pid;
}

function stoppedFile(name: string): string {
  return join(settings.runDir, `${name}.stopped`);
}

/**
 * Whether a component was stopped on purpose (`terminate`: `npm stop`, Ctrl-C, a test's stopComponents)
 * and not started since. A file, not memory: the supervisor that must leave it down runs in another
 * process than the test or the `npm stop` that stopped it.
 */
export function markedStopped(name: string): boolean {
  return existsSync(stoppedFile(name));
}

function markStopped(name: string): void {
  mkdirSync(settings.runDir, { recursive: true });
  writeFileSync(stoppedFile(name), `${process.pid} ${new Date().toISOString()}\n`);
}

/**
 * Stops a component's process group: SIGTERM, then SIGKILL after the grace period. With `owner`, only
 * if that session started it: a session never stops what another one started under the same name.
 * The component is marked as stopped on purpose first (even if it is not running: whoever stops it wants
 * it down), so that no supervisor takes the stop for a crash; `launch` clears the mark.
 */
export async function terminate(name: string, options: { graceMs?: number; owner?: string } = {}): Promise<boolean> {
  const record = recordOf(name);
  if (options.owner !== undefined && record?.owner !== options.owner) return false;
  markStopped(name);
  if (record === undefined) return false;
  const { pid } = record;
  const graceMs = options.graceMs ?? 30_000;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) signalGroup('SIGKILL');
  while (isAlive(pid)) await sleep(100);
  forgetPid(name, pid);
  return true;
}

/**
 * SIGKILLs a component, a crash with no warning, and marks it as stopped on purpose first, so that no
 * supervisor brings it back: for failover tests, where the rest of the cluster must carry on without it
 * for as long as the test wants. Returns the session that owned it, for `startComponents` to hand it back
 * to. Throws if the component is not running under the stack.
 */
export async function killHeldDown(name: string): Promise<string> {
  const record = recordOf(name);
  if (record === undefined) throw new Error(`${name} is not running under the stack`);
  markStopped(name);
  process.kill(record.pid, 'SIGKILL');
  while (isAlive(record.pid)) await sleep(50);
  forgetPid(name, record.pid);
  return record.owner;
}

/** The last lines of a component's log, for failure reports. */
export function logTail(name: string, lines = 40): string {
  const file = logFile(name);
  if (!existsSync(file)) return '(no log file)';
  const all = readFileSync(file, 'utf8').split('\n');
  return all.slice(-lines).join('\n');
}

const stoppingPrefix = 'stopping.';

/**
 * Marks this process as stopping components while `work` runs, so that an `up` started meanwhile waits
 * instead of reusing a component that is about to go away (Ctrl-C in one terminal, `npm start` in another).
 */
export async function whileStopping<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(settings.runDir, { recursive: true });
  const marker = join(settings.runDir, `${stoppingPrefix}${process.pid}`);
  writeFileSync(marker, '');
  try {
    return await work();
  } finally {
    rmSync(marker, { force: true });
  }
}

/** Pids of other processes that are stopping components right now; markers of dead ones are removed. */
export function stoppingProcesses(): number[] {
  if (!existsSync(settings.runDir)) return [];
  const pids: number[] = [];
  for (const file of readdirSync(settings.runDir).filter((f) => f.startsWith(stoppingPrefix))) {
    const pid = Number(file.slice(stoppingPrefix.length));
    if (pid === process.pid) continue;
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) pids.push(pid);
    else rmSync(join(settings.runDir, file), { force: true });
  }
  return pids;
}
