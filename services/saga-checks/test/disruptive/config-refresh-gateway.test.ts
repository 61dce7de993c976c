import test from 'ava';
import { settings as stack } from '@cdc-outbox-saga/local-stack';
import { bearer, createProduct } from '../helpers/api.js';
import { ConfigRepoClone } from '../helpers/config.js';
import { freePort, waitFor } from '../helpers/discovery.js';
import { runService, type Child } from '../helpers/processes.js';

// A gateway and a config service of this file's own, the config service serving a temporary clone of this
// repository that the test commits to. The gateway's rate limits and timeouts are live keys.
const clone = new ConfigRepoClone();
const children: Child[] = [];

test.after.always(async () => {
  for (const child of children.reverse()) await child.stop();
  clone.remove();
});

const commit = (edit: (text: string) => string, message: string) => clone.commit('gateway.yml', edit, message);

test.serial('a committed rate limit and timeouts change the running gateway within seconds', async (t) => {
  const configServer = await clone.startConfigServer(await freePort());
  children.push(configServer);
  const managementPort = await freePort();
  const gateway = await runService(
    'gateway',
    await freePort(),
    {
      MANAGEMENT_PORT: String(managementPort),
      INSTANCE_ID: 'gateway-config-test',
      CONFIG_SERVER_URL: configServer.url,
      CONFIG_PROFILE: 'default',
      JWT_PUBLIC_KEY_FILE: stack.publicKeyFile,
    },
    clone.logPath('gateway'),
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
    (text) =>
      text
        .replace(/capacity: \d+/, 'capacity: 50')
        .replace(/refillPerSecond: \d+/, 'refillPerSecond: 25')
        .replace(/timeoutMs: 65000/, 'timeoutMs: 40000'),
    'tighter limits',
  );
  const took = await waitFor('the new limits in force', policy, (p) => p === '"default";q=50;w=2', 10_000);
  t.log(`new rate limit in force ${took} ms after the commit`);
  const health = (await (await fetch(`http://127.0.0.1:${managementPort}/health`)).json()) as { config: { version: string } };
  t.is(health.config.version, version);
  t.regex(gateway.log(), /"upstream\.timeoutMs":40000/, 'the response timeout applied live');

  commit((text) => text.replace(/capacity: \d+/, 'capacity: -1'), 'an invalid limit');
  await waitFor(
    'the invalid commit refused',
    async () => gateway.log(),
    (log) => log.includes('commit refused'),
    10_000,
  );
  t.is(await policy(), '"default";q=50;w=2', 'the last good limits stay');
});
