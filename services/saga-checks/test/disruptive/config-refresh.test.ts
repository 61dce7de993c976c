import test from 'ava';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { logFile, startExtraInstance, stopComponents } from '@cdc-outbox-saga/local-stack';
import { bearer, createProduct, createUser } from '../helpers/api.js';
import { ConfigRepoClone, environment, git } from '../helpers/config.js';
import { freePort, waitFor } from '../helpers/discovery.js';
import type { Child } from '../helpers/processes.js';

// One order instance of its own, started by this file, asks a config service of this file's own, which
// serves a temporary clone of this repository: the test commits to the clone, never to the repository.
// Bounds: each instance asks every config.refreshMs (2 s); a change must be in force within 10 s.
const clone = new ConfigRepoClone();
const configPort = await freePort();
const instancePort = await freePort();
const instanceUrl = `http://127.0.0.1:${instancePort}`;
const instanceId = `order-config-${randomUUID().slice(0, 6)}`;
let configServer: Child | undefined;
/** The last commit with valid settings, made by the second test. */
let good = '';

test.after.always(async () => {
  await stopComponents([instanceId]).catch(() => undefined);
  await configServer?.stop();
  clone.remove();
});

interface Health {
  config: { source: string; version?: string; reason?: string };
}
const health = async () => (await (await fetch(`${instanceUrl}/health`)).json()) as Health;

/** `Prefer: wait=50` straight at this file's instance; what it says it applied. */
async function appliedWait(): Promise<string | null> {
  const { userId, productId } = await fixture();
  const response = await fetch(`${instanceUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=50', authorization: `Bearer ${await bearer()}` },
    body: JSON.stringify({ userId, items: [{ productId, quantity: 1 }] }),
  });
  await response.arrayBuffer();
  return response.headers.get('preference-applied');
}

let fixtures: Promise<{ userId: string; productId: string }> | undefined;
/** A buyer and a product for this file's orders, made once. */
const fixture = () =>
  (fixtures ??= Promise.all([createUser(10_000), createProduct(1, 10_000)]).then(([userId, productId]) => ({ userId, productId })));

test.serial(
  'with the config service down, an instance starts on its local settings, says why, and takes the service up once it answers',
  async (t) => {
    await startExtraInstance('order', instanceId, instancePort, {
      CONFIG_SERVER_URL: `http://127.0.0.1:${configPort}`,
      // The default profile, whatever NODE_ENV the test runner set: order-test.yml would quieten the log.
      CONFIG_PROFILE: 'default',
    });
    const atStart = await health();
    t.is(atStart.config.source, 'local');
    t.truthy(atStart.config.reason);
    const unavailable = readFileSync(logFile(instanceId), 'utf8')
      .split('\n')
      .filter((line) => line.includes('config service unavailable'));
    t.is(unavailable.length, 1, 'one clear line');
    t.regex(unavailable[0]!, /starting on the local settings/);
    t.is(await appliedWait(), 'wait=50', 'the local default (60) in force');

    configServer = await clone.startConfigServer(configPort);
    const head = clone.head();
    const took = await waitFor(
      'the instance taking the config service up',
      health,
      (h) => h.config.source === 'config-service' && h.config.version === head,
      10_000,
    );
    t.is(await appliedWait(), 'wait=45', 'config-repo/order.yml in force');
    t.log(`the config service's settings in force ${took} ms after it answered`);
  },
);

test.serial(
  'a commit to a live key changes the running instance within seconds; an invalid commit is refused and the last good settings stay',
  async (t) => {
    good = clone.commit(
      'order.yml',
      (text) => text.replace(/maxWaitSeconds: \d+/, 'maxWaitSeconds: 20') + 'kafka:\n  retry:\n    minMs: 150\n    maxMs: 10000\n',
      'shorter waits',
    );
    const took = await waitFor('the new commit in force', health, (h) => h.config.version === good, 10_000);
    t.is(await appliedWait(), 'wait=20');
    t.log(`commit in force ${took} ms after it was made`);
    const log = () => readFileSync(logFile(instanceId), 'utf8');
    t.regex(log(), /"kafka\.retry\.minMs":150/, 'the consumer backoff applied live too');

    const restartOnly = clone.commit('order.yml', (text) => text.replace(/outcomePollMs: \d+/, 'outcomePollMs: 300'), 'a restart-only key');
    await waitFor('the restart-only commit in force', health, (h) => h.config.version === restartOnly, 10_000);
    t.regex(log(), /take effect only after a restart.*saga\.outcomePollMs|saga\.outcomePollMs.*take effect only after a restart/);

    const bad = clone.commit('order.yml', (text) => text.replace(/maxWaitSeconds: \d+/, 'maxWaitSeconds: -5'), 'an invalid wait');
    await waitFor(
      'the invalid commit refused',
      async () => log(),
      (text) => text.includes(bad) && text.includes('commit refused'),
      10_000,
    );
    t.is((await health()).config.version, restartOnly, 'the last good commit stays in force');
    t.is(await appliedWait(), 'wait=20', 'and so does its value');
    t.regex(log(), /saga\.maxWaitSeconds/);
  },
);

test.serial('a tag is a label too, answered with the commit it names', async (t) => {
  git(['tag', 'config-test-tag', good], clone.dir);
  const { status, body } = await environment(configServer!.url, '/order/default/config-test-tag');
  t.is(status, 200);
  t.is(body.version, good);
  t.is(body.propertySources[0]!.source['saga.maxWaitSeconds'], 20);
});
