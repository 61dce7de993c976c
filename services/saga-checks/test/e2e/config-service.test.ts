import test from 'ava';
import { randomUUID } from 'node:crypto';
import { serviceInstanceUrls, settings } from '@cdc-outbox-saga/local-stack';
import { api, createProduct, createUser } from '../helpers/api.js';
import { configServer, environment, git, rawGet } from '../helpers/config.js';
import { eurekaInstances } from '../helpers/discovery.js';

// The stack's config service serves config-repo/ from this repository's Git history.
const head = git(['rev-parse', 'HEAD']);
// Empty on a detached checkout, where the config service's default label is the commit itself.
const branch = git(['branch', '--show-current']);

for (const application of ['order', 'product', 'user', 'gateway']) {
  test(`${application}: the Spring environment of the committed config-repo, most specific source first`, async (t) => {
    const { status, body } = await environment(configServer, `/${application}/default`);
    t.is(status, 200);
    t.like(body, { name: application, profiles: ['default'], version: head });
    const files = body.propertySources.map((p) => p.name.split('/').at(-1));
    t.deepEqual(files, [`${application}.yml`, 'application.yml']);
    t.is(body.propertySources.at(-1)!.source['log.level'], 'info', 'flattened to dotted keys');
    const yml = await rawGet(configServer, `/${application}-default.yml`);
    t.is(yml.status, 200);
    t.regex(yml.body, /^log:\n {2}level: info$/m);
    const properties = await rawGet(configServer, `/${head}/${application}-default.properties`);
    t.regex(properties.body, /^log\.level[=:] ?info$/m);
    const json = JSON.parse((await rawGet(configServer, `/${application}-default.json`)).body) as { log: { level: string } };
    t.is(json.log.level, 'info');
  });
}

test('profiles stack: order-test.yml over order.yml over application.yml', async (t) => {
  const { body } = await environment(configServer, '/order/test');
  t.deepEqual(
    body.propertySources.map((p) => p.name.split('/').at(-1)),
    ['order-test.yml', 'order.yml', 'application.yml'],
  );
  t.is(body.propertySources[0]!.source['log.level'], 'warn');
});

test('a label may be the branch, the full commit id or an abbreviation of it, each with its version', async (t) => {
  for (const label of [branch, head, head.slice(0, 10)].filter(Boolean)) {
    const { status, body } = await environment(configServer, `/order/default/${label}`);
    t.is(status, 200, label);
    t.is(body.version, head, label);
    t.is(body.propertySources[0]!.source['saga.maxWaitSeconds'], 45, label);
  }
});

test('the merged documents: .yml, .properties and .json, with and without a label', async (t) => {
  const yml = await rawGet(configServer, '/order-default.yml');
  t.is(yml.status, 200);
  t.regex(yml.body, /maxWaitSeconds: 45/);
  const properties = await rawGet(configServer, `/${branch || head}/order-default.properties`);
  t.is(properties.status, 200);
  t.regex(properties.body, /^saga\.maxWaitSeconds[=:] ?45$/m);
  t.regex(properties.body, /^log\.level[=:] ?info$/m);
  const json = JSON.parse((await rawGet(configServer, '/order-default.json')).body) as {
    saga: { maxWaitSeconds: number };
    kafka: { retry: { minMs: number } };
  };
  t.is(json.saga.maxWaitSeconds, 45);
  t.is(json.kafka.retry.minMs, 100);
});

test('an unknown label is a 404, malformed labels and path traversal are refused, nothing is read outside the repository', async (t) => {
  t.is((await rawGet(configServer, '/order/default/no-such-branch')).status, 404);
  t.is((await rawGet(configServer, `/order/default/${'0'.repeat(40)}`)).status, 404);
  for (const path of [
    '/order/default/..',
    '/order/default/..%2F..%2Fetc',
    '/..%2F..%2Fetc%2Fpasswd/default',
    '/order/default/%00',
    '/order/..%5C..%5Cwindows/main',
  ]) {
    const answer = await rawGet(configServer, path);
    t.true(answer.status === 400 || answer.status === 404, `${path} answered ${answer.status}`);
    t.notRegex(answer.body, /root:|\[boot loader\]/, path);
    t.regex(answer.type, /json/, `${path}: a JSON error`);
  }
});

test('the running services took their settings from it: the commit in /health, and the repo value in force', async (t) => {
  for (const [name, url] of Object.entries(serviceInstanceUrls())) {
    const health = (await (await fetch(`${url}/health`)).json()) as { config: { source: string; version: string } };
    t.like(health.config, { source: 'config-service', version: head }, name);
  }
  const gateway = (await (await fetch(`http://${settings.host}:${settings.ports.gatewayManagement}/health`)).json()) as {
    config: { version: string };
  };
  t.is(gateway.config.version, head, 'gateway');
  // order.yml says 45 where the service's own default is 60: a longer wait asked for is cut to 45.
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const answer = await api('POST', '/orders', {
    body: { userId, items: [{ productId, quantity: 1 }] },
    headers: { prefer: 'wait=50', 'idempotency-key': randomUUID() },
  });
  t.is(answer.status, 201);
  t.is(answer.headers.get('preference-applied'), 'wait=45');
});

test('the config service is registered in Eureka', async (t) => {
  const [instance] = await eurekaInstances('config-server');
  t.like(instance, { instanceId: 'config-server-1', status: 'UP', url: configServer });
});
