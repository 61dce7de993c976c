import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { settings } from '@cdc-outbox-saga/local-stack';
import { runService, type Child } from './processes.js';

/** The stack's config service. */
export const configServer = `http://${settings.host}:${settings.ports.configServer}`;

/** `git` in `cwd` (the repository by default), its output trimmed. */
export function git(args: string[], cwd = settings.repoRoot): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/**
 * GET with the path exactly as given: fetch() would normalise `..` and percent-escapes away before the
 * server could refuse them.
 */
export function rawGet(base: string, path: string): Promise<{ status: number; body: string; type: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface Environment {
  name: string;
  profiles: string[];
  label: string | null;
  version: string | null;
  state: string | null;
  propertySources: Array<{ name: string; source: Record<string, unknown> }>;
}

export async function environment(base: string, path: string): Promise<{ status: number; body: Environment }> {
  const response = await fetch(`${base}${path}`, { headers: { accept: 'application/json' } });
  return { status: response.status, body: (await response.json()) as Environment };
}

/**
 * A temporary clone of this repository for a test to commit to (never the repository itself), and a config
 * service of the test's own serving it, outside Eureka.
 */
export class ConfigRepoClone {
  readonly dir = mkdtempSync(join(tmpdir(), 'config-repo-'));

  constructor() {
    git(['clone', '--quiet', '--no-hardlinks', settings.repoRoot, this.dir]);
    git(['config', 'user.name', 'config-refresh test'], this.dir);
    git(['config', 'user.email', 'config-refresh@example.invalid'], this.dir);
  }

  /** A log file beside the clone (removed with it). */
  logPath(name: string): string {
    return `${this.dir}-${name}.log`;
  }

  head(): string {
    return git(['rev-parse', 'HEAD'], this.dir);
  }

  /** Edits config-repo/`file` and commits it; returns the new commit. */
  commit(file: string, edit: (text: string) => string, message: string): string {
    const path = join(this.dir, 'config-repo', file);
    writeFileSync(path, edit(readFileSync(path, 'utf8')));
    git(['commit', '--quiet', '-am', message], this.dir);
    return this.head();
  }

  /** The config service, serving this clone on `port`. */
  startConfigServer(port: number): Promise<Child> {
    return runService(
      'config-server',
      port,
      { CONFIG_GIT_URI: this.dir, EUREKA_URL: 'off', INSTANCE_ID: 'config-server-in-test' },
      this.logPath('config'),
    );
  }

  remove(): void {
    for (const path of [this.dir, this.logPath('config'), this.logPath('gateway')]) rmSync(path, { recursive: true, force: true });
  }
}
