import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchDebianPackages } from './debian.js';
import { isAlive } from './processes.js';
import { settings, versions } from './settings.js';

/**
 * Debian 12's `docker-compose` (Compose 1.29, Python) and every Python package it imports, at the exact
 * versions `apt-cache policy` shows (bookworm and bookworm-security). It checks a compose file
 * (`docker-compose config`) without a Docker engine, and it is the only Compose obtainable without Docker's
 * own repository or PyPI.
 *
 * The whole dependency closure is fetched, even the packages a machine may have installed already
 * (python3-yaml, -distro, -six, -distutils): with `python3 -S` (below) the check sees these versions and
 * Python's standard library only, whatever else is installed. Not fetched: the Recommends (docker.io) and
 * the alternatives Python 3.11 itself satisfies (importlib-metadata, importlib-resources, typing-extensions).
 */
export const composePackages: readonly { name: string; version: string }[] = [
  { name: 'docker-compose', version: versions.dockerCompose },
  { name: 'python3-attr', version: '22.2.0-1' },
  { name: 'python3-cached-property', version: '1.5.2-1' },
  { name: 'python3-certifi', version: '2022.9.24-1' },
  { name: 'python3-chardet', version: '5.1.0+dfsg-2' },
  { name: 'python3-charset-normalizer', version: '3.0.1-2' },
  { name: 'python3-distro', version: '1.8.0-1' },
  // compose/version.py imports distutils, which Debian's Python 3.11 ships apart from its standard library.
  { name: 'python3-distutils', version: '3.11.2-3' },
  { name: 'python3-docker', version: '5.0.3-1' },
  { name: 'python3-dockerpty', version: '0.4.1-4' },
  { name: 'python3-docopt', version: '0.6.2-4.1' },
  { name: 'python3-dotenv', version: '0.21.0-1' },
  { name: 'python3-idna', version: '3.3-1+deb12u1' },
  { name: 'python3-jsonschema', version: '4.10.3-1' },
  { name: 'python3-pyrsistent', version: '0.18.1-1+b3' },
  { name: 'python3-requests', version: '2.28.1+dfsg-1' },
  { name: 'python3-six', version: '1.16.0-4' },
  { name: 'python3-texttable', version: '1.6.7-1' },
  { name: 'python3-urllib3', version: '1.26.12-1+deb12u4' },
  { name: 'python3-websocket', version: '1.2.3-1' },
  { name: 'python3-yaml', version: '6.0-3+b2' },
];

/** Debian 12's own Python 3.11: the packages above are built for it (python3-yaml and -pyrsistent have C extensions). */
const python = '/usr/bin/python3';

/** One folder per set of pins: a changed pin is a new folder, never a mix of old and new packages. */
const pinsDigest = createHash('sha256').update(JSON.stringify(composePackages)).digest('hex').slice(0, 8);
const home = join(settings.distDir, `docker-compose-${versions.dockerCompose}-${pinsDigest}`);
const script = join(home, 'usr/bin/docker-compose');

/** How to run the pinned `docker-compose`: `command` with `args` first, then Compose's own arguments, in `env`. */
export interface ComposeTool {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * Runs `work` while no other process of this machine fetches the same packages: the unit tests run in
 * parallel processes, and two `apt-get download`s (or `apt-get update`s) at once into one folder fail.
 * The lock file holds its owner's pid; a lock left by a process that is gone is taken over.
 */
async function underFetchLock<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(settings.distDir, { recursive: true });
  const lock = `${home}.lock`;
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = 0;
      try {
        owner = Number(readFileSync(lock, 'utf8'));
      } catch {
        continue; // released in the meantime
      }
      // 0 is a lock whose pid is not written yet: wait for it like for a live one.
      if (owner > 0 && !isAlive(owner)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`${lock}: held by pid ${owner} for over 5 minutes`);
      else await sleep(250);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * The pinned `docker-compose`, fetched into the state folder first if it is not there (`apt-get download`
 * and `dpkg-deb -x`, as Prometheus: see debian.ts; about 2 MB, nothing installed).
 *
 * A `docker-compose` or `docker compose` already on the machine is not used, on purpose: it may be any
 * version, and Compose implementations disagree on what a valid file is (Compose v2 accepts options 1.29
 * refuses, an older 1.x refuses newer ones), so one file would pass here and fail there. The pinned copy
 * gives every machine the same verdict. Needs `apt-get` with Debian 12's package lists, which the native
 * stack needs anyway (Prometheus), and Debian's /usr/bin/python3.
 */
export async function dockerCompose(): Promise<ComposeTool> {
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: the pinned docker-compose ${versions.dockerCompose} runs on Debian 12's Python 3.11`);
  }
  try {
    if (!existsSync(script)) await underFetchLock(() => fetchDebianPackages([...composePackages], home, [script]));
  } catch (error) {
    throw new Error(
      `could not fetch Debian 12's docker-compose ${versions.dockerCompose} and its Python packages with apt-get ` +
        `(the package mirrors must be reachable; a pin that the mirror no longer has must be updated in compose-check.ts, see apt-cache policy): ` +
        (error as Error).message,
    );
  }
  return {
    command: python,
    // -S: no site-packages of the machine, so the check runs on the pinned packages and the standard library alone.
    args: ['-S', script],
    env: {
      ...process.env,
      // python3-distutils unpacks to usr/lib/python3.11, beside the standard library it belongs to.
      PYTHONPATH: [join(home, 'usr/lib/python3/dist-packages'), join(home, 'usr/lib/python3.11')].join(':'),
    },
  };
}

/** Runs the pinned `docker-compose` with `args` in `cwd` and waits for it. */
export function runCompose(tool: ComposeTool, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(tool.command, [...tool.args, ...args], { cwd, env: tool.env, encoding: 'utf8', timeout: 60_000 });
}

/**
 * The configuration Compose resolves from `files` (in `cwd`): anchors and merge keys applied, paths
 * absolute, ports in Compose's own form. Compose 1.29 prints it as YAML only; it is read with the PyYAML
 * the tool runs on, so no YAML parser is needed on the Node side.
 */
export function composeConfig(tool: ComposeTool, files: string[], cwd: string): unknown {
  const config = runCompose(tool, [...files.flatMap((file) => ['-f', file]), 'config'], cwd);
  if (config.status !== 0) throw new Error(`docker-compose ${files.join(' ')} config: ${config.stderr || config.error?.message}`);
  const json = spawnSync(tool.command, ['-S', '-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], {
    env: tool.env,
    input: config.stdout,
    encoding: 'utf8',
  });
  if (json.status !== 0) throw new Error(`reading docker-compose config's YAML: ${json.stderr || json.error?.message}`);
  return JSON.parse(json.stdout);
}
