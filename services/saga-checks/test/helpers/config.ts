import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { settings } from '@cdc-outbox-saga/local-stack';

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
