import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dockerCompose, runCompose } from '../../src/compose-check.js';
import { repoRoot } from '../../src/settings.js';

// The compose stack's secrets are written in three places that no engine checks here: compose/secrets.sh
// shares each secret into a directory per container, readable by one group; docker-compose.yml and
// compose/mysql/init.sh read them from /run/stack-secrets/<directory>/<name>, and each container needs that
// directory's group. A path or a gid that does not match is found here, not on someone's first `up`.
const composeDir = join(repoRoot, 'compose');
const composeFile = readFileSync(join(composeDir, 'docker-compose.yml'), 'utf8');
const secretsScript = readFileSync(join(composeDir, 'secrets.sh'), 'utf8');
const initScript = readFileSync(join(composeDir, 'mysql', 'init.sh'), 'utf8');

/** `share DIRECTORY GID NAME...` lines of secrets.sh, with $database_secrets expanded. */
function shares(): Map<string, { gid: string; names: Set<string> }> {
  const databaseSecrets = /^database_secrets="([^"]+)"/m.exec(secretsScript)?.[1]?.split(' ') ?? [];
  const result = new Map<string, { gid: string; names: Set<string> }>();
  for (const [, dir, gid, rest] of secretsScript.matchAll(/^share (\S+) (\d+)(.*)$/gm)) {
    const names = (rest ?? '')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .flatMap((n) => (n === '$database_secrets' ? databaseSecrets : [n]));
    result.set(dir!, { gid: gid!, names: new Set(names) });
  }
  return result;
}

/** The text of each service block of docker-compose.yml, by service name. */
function serviceBlocks(): Map<string, string> {
  const body = composeFile.slice(composeFile.indexOf('\nservices:\n'), composeFile.search(/\n(volumes|secrets):\n/));
  const blocks = new Map<string, string>();
  for (const part of body.split(/\n(?= {2}[a-z][\w-]*:\n)/).slice(1)) {
    // Without comments: the comment above the next service is written at the end of this one's text.
    const text = part
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .join('\n');
    blocks.set(/^ {2}([\w-]+):/.exec(part)![1]!, text);
  }
  return blocks;
}

const secretPath = /\/run\/stack-secrets\/([\w-]+)\/([\w.-]+)/g;

test('every secret a container or init.sh reads is one that secrets.sh shares into that directory', (t) => {
  const shared = shares();
  const paths = [...composeFile.matchAll(secretPath), ...initScript.matchAll(/secrets=\/run\/stack-secrets\/([\w-]+)()/g)];
  t.true(paths.length > 10, 'the compose file reads its secrets from the volume');
  for (const [path, dir, name] of paths) {
    const share = shared.get(dir!);
    t.truthy(share, `${path}: secrets.sh shares nothing into ${dir}/`);
    // mysqld-exporter's my.cnf is written by secrets.sh itself, not shared from all/.
    if (name && name !== 'my.cnf') t.true(share?.names.has(name), `${path}: secrets.sh does not share ${name} into ${dir}/`);
  }
});

test("each container that reads a secrets directory has that directory's group, and no other's", (t) => {
  const shared = shares();
  for (const [service, block] of serviceBlocks()) {
    if (service === 'secrets') continue;
    const dirs = new Set([...block.matchAll(secretPath)].map((m) => m[1]!));
    // init.sh runs inside the mysql container.
    if (service === 'mysql') dirs.add('mysql');
    const groups = new Set(/group_add: \[([^\]]*)\]/.exec(block)?.[1]?.match(/\d+/g) ?? []);
    t.deepEqual([...groups].sort(), [...dirs].map((dir) => shared.get(dir)?.gid ?? `? (${dir})`).sort(), service);
  }
});

/** compose/docker-compose.yml, and each override beside it (docker-compose.<variant>.yml) stacked on it. */
function composeFileSets(): string[][] {
  const overrides = readdirSync(composeDir)
    .filter((file) => /^docker-compose\.[\w.-]+\.ya?ml$/.test(file))
    .sort();
  return [['docker-compose.yml'], ...overrides.map((override) => ['docker-compose.yml', override])];
}

test("the compose file, and each override stacked on it, passes Compose's own check", async (t) => {
  // The first run fetches docker-compose and its Python packages with apt-get (a few seconds; an
  // `apt-get update` first when the package lists are missing or stale).
  t.timeout(180_000);
  // No tool is a failure, not a skip: this is the only check of the compose file that runs without Docker.
  const tool = await dockerCompose();
  for (const files of composeFileSets()) {
    const args = [...files.flatMap((file) => ['-f', file]), 'config', '-q'];
    const check = runCompose(tool, args, composeDir);
    t.is(check.status, 0, `docker-compose ${args.join(' ')}: ${check.stderr || check.error?.message}`);
    t.log(`docker-compose ${args.join(' ')}: valid`);
  }
});
