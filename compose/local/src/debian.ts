import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { settings } from './settings.js';

/** A pinned Debian package the stack unpacks (never installs) into its state folder. */
export interface DebianPackage {
  name: string;
  /** The exact Debian version, as `apt-cache policy` shows it. */
  version: string;
  /** Where it is unpacked: the package's own tree (usr/bin/…) lands under it. */
  home: string;
  /** Files that are there once it is unpacked: when they all exist, nothing is fetched. */
  files: string[];
}

function run(command: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output.trim().slice(-800)}`)),
    );
  });
}

/**
 * The file name `apt-get download` gives `name=version` (an epoch's colon is written %3a), up to the
 * architecture: matching the version too means a .deb of an older pin left in the folder is never taken.
 */
export const debPrefix = (name: string, version: string) => `${name}_${version.replace(/:/g, '%3a')}_`;

/**
 * Fetches a pinned Debian package once: `apt-get download` (after an `apt-get update` when the package
 * lists do not know it yet) into the state folder's debs/, and `dpkg-deb -x` into `home`. Nothing is
 * installed system-wide and nothing is needed from a package manager at run time.
 */
export function fetchDebianPackage({ name, version, home, files }: DebianPackage): Promise<void> {
  return fetchDebianPackages([{ name, version }], home, files);
}

/**
 * Fetches several pinned packages the same way and unpacks them all into one `home`, as if installed
 * under it (usr/bin, usr/lib/python3/dist-packages…). They are unpacked into a folder of their own first
 * and moved into place once all are there, so an interrupted fetch never leaves a `home` that only looks
 * complete.
 */
export async function fetchDebianPackages(packages: { name: string; version: string }[], home: string, files: string[]): Promise<void> {
  if (files.every((file) => existsSync(file))) return;
  const debs = join(settings.distDir, 'debs');
  mkdirSync(debs, { recursive: true });
  const wanted = packages.map(({ name, version }) => `${name}=${version}`);
  try {
    await run('apt-get', ['download', ...wanted], debs);
  } catch {
    await run('apt-get', ['update', '-qq']);
    await run('apt-get', ['download', ...wanted], debs);
  }
  const unpacking = `${home}.part-${process.pid}`;
  rmSync(unpacking, { recursive: true, force: true });
  try {
    for (const { name, version } of packages) {
      const prefix = debPrefix(name, version);
      const deb = readdirSync(debs).find((file) => file.startsWith(prefix) && file.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${name}=${version} left no ${prefix}*.deb in ${debs}`);
      await run('dpkg-deb', ['-x', join(debs, deb), unpacking]);
    }
    rmSync(home, { recursive: true, force: true });
    renameSync(unpacking, home);
  } finally {
    rmSync(unpacking, { recursive: true, force: true });
  }
}
