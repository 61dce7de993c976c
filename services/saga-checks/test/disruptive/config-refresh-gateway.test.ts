import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { settings as stack } from '@cdc-outbox-saga/local-stack';
import { bearer, createProduct } from '../helpers/api.js';
import { git } from '../helpers/config.js';
import { freePort, waitFor } from '../helpers/discovery.js';
import { runService, type Child } from '../helpers/processes.js';

// A gateway and a config service of this file's own, the config service serving a temporary clone of this
// repository that the test commits to. The gateway's rate limits and timeouts are live keys.
const clone = mkdtempSync(join(tmpdir(), 'config-repo-'));
git(['clone', '--quiet', '--no-hardlinks', stack.repoRoot, clone]);
git(['config', 'user.name', 'config-refresh test'], clone);
git(['config', 'user.email', 'config-refresh@example.invalid'], clone);
const children: Child[] = [];

test.after.always(async () => {
  for (const child of children.reverse()) await child.stop();
  for (const path of [clone, `${clone}-config.log`, `${clone}-gateway.log`]) rmSync(path, { recursive: true, force: true });
});

function commit(edit: (text: string) => string, message: string): string {
  const path = join(clone, 'config-repo', 'gateway.yml');
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
  git(['commit', '--quiet', '-am', message], clone);
  return git(['rev-parse', 'HEAD'], clone);
}

test.serial('a committed rate limit and timeouts change the running gateway within seconds', async (t) => {
  const configServer = await runService('config-server', await freePort(), { CONFIG_GIT_URI: clone, EUREKA_URL: 'off', INSTANCE_ID: 'config-server-in-test' }, `${clone}-config.log`);
  children.push(configServer);
  const gateway = await runService(
    'gateway',
    await freePort(),
    {
      INSTANCE_ID: 'gateway-config-test',
      CONFIG_SERVER_URL: configServer.url,
      CONFIG_PROFILE: 'default',
      JWT_PUBLIC_KEY_FILE: stack.publicKeyFile,
    },
    `${clone}-gateway.log`,
  );
  children.push(gateway);
  const productId = await createProduct(1, 1);
  const policy = async () => {
    const response = await fetch(`${gateway.url}/api/products/${productId}`, { headers: { authorization: `Bearer ${await bearer()}` } });
    await response.arrayBuffer();
    return response.headers.get('ratelimit-policy');
  };
  t.is(await policy(), '"default";q=200;w=2', 'config-repo/gateway.yml in force');

  const version = commit(
    (text) => text.replace(/capacity: \d+/, 'capacity: 50').replace(/refillPerSecond: \d+/, 'refillPerSecond: 25').replace(/timeoutMs: 65000/, 'timeoutMs: 40000'),
    'tighter limits',
  );
  const took = await waitFor('the new limits in force', policy, (p) => p === '"default";q=50;w=2', 10_000);
  t.log(`new rate limit in force ${took} ms after the commit`);
  const health = (await (await fetch(`${gateway.url}/health`)).json()) as { config: { version: string } };
  t.is(health.config.version, version);
  t.regex(gateway.log(), /"upstream\.timeoutMs":40000/, 'the response timeout applied live');

  commit((text) => text.replace(/capacity: \d+/, 'capacity: -1'), 'an invalid limit');
  await waitFor('the invalid commit refused', async () => gateway.log(), (log) => log.includes('commit refused'), 10_000);
  t.is(await policy(), '"default";q=50;w=2', 'the last good limits stay');
});
