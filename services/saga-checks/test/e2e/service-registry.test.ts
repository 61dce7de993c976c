import test from 'ava';
import { serviceInstanceUrls, settings } from '@cdc-outbox-saga/local-stack';
import { eurekaInstances } from '../helpers/discovery.js';

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
    t.like(instance, { status: 'UP', url, metadata: { 'management.port': new URL(url).port } }, name);
    t.regex(instance?.metadata.version ?? '', /^\d+\.\d+\.\d+/, `${name} publishes its version`);
  }
});
