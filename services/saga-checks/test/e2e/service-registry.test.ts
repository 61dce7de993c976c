import test from 'ava';
import { serviceInstanceUrls, settings } from '@cdc-outbox-saga/local-stack';
import { eureka, eurekaInstances } from '../helpers/discovery.js';

test('Eureka lists every instance of order, product, user, the gateway and the config service as UP on its own port', async (t) => {
  const expected = {
    ...serviceInstanceUrls(),
    'gateway-1': `http://${settings.host}:${settings.ports.gateway}`,
    'config-server-1': `http://${settings.host}:${settings.ports.configServer}`,
  };
  const listed = (await Promise.all(['order', 'product', 'user', 'gateway', 'config-server'].map((app) => eurekaInstances(app)))).flat();
  t.deepEqual(listed.map((i) => i.instanceId).sort(), Object.keys(expected).sort(), 'every instance, and no other');
  for (const [name, url] of Object.entries(expected)) {
    const instance = listed.find((i) => i.instanceId === name);
    // The gateway's health and metrics are on its management port (127.0.0.1 only), not the public one.
    const managementPort = name === 'gateway-1' ? String(settings.ports.gatewayManagement) : new URL(url).port;
    t.like(instance, { status: 'UP', url, metadata: { 'management.port': managementPort } }, name);
    t.regex(instance?.metadata.version ?? '', /^\d+\.\d+\.\d+/, `${name} publishes its version`);
  }
});

test('the registry answers only its user: its REST API and its dashboard are 401 without credentials, its health check open', async (t) => {
  const api = eureka[0]!;
  const server = api.replace(/\/eureka$/, '');
  for (const url of [`${api}/apps`, `${server}/`]) {
    const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    t.is(response.status, 401, url);
    t.regex(response.headers.get('www-authenticate') ?? '', /^Basic /, `${url} asks for HTTP basic`);
  }
  const health = await fetch(`${server}/actuator/health`, { signal: AbortSignal.timeout(5000) });
  t.is(health.status, 200);
  t.like(await health.json(), { status: 'UP' });
});
