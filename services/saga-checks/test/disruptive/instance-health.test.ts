import test from 'ava';
import { randomUUID } from 'node:crypto';
import { api } from '../helpers/api.js';
import { eurekaInstances, gatewayInstances, waitFor } from '../helpers/discovery.js';

// A product instance run inside this test process, so the test can stop its Kafka consumer while its
// HTTP server and database stay fine: the real service code, registered in the real Eureka.
process.env.PORT = '0';
process.env.INSTANCE_ID = 'product-in-test';
const { loadSettings, start } = await import('@cdc-outbox-saga/product-service');

test.serial('an instance whose consumer has stopped reports DOWN, in /health and in Eureka, and gets no gateway traffic', async (t) => {
  const before = (await gatewayInstances()).product!;
  const service = await start(await loadSettings());
  t.teardown(() => service.stop());
  await waitFor('the gateway routing to it', gatewayInstances, (n) => n.product === before + 1, 20_000);

  const served = () => service.metrics.httpDuration.get().then((m) => m.values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0));
  await waitFor(
    'a request reaching it',
    async () => {
      for (let i = 0; i < 6; i++) await api('GET', `/products/${randomUUID()}`);
      return served();
    },
    (count) => count > 0,
    20_000,
  );

  await service.consumer.stop();
  await waitFor('its health DOWN', async () => service.health.current, (h) => h.status === 'DOWN', 10_000);
  const health = await fetch(`${service.url}/health`);
  t.is(health.status, 503);
  t.like(await health.json(), { status: 'DOWN', checks: { consumer: { status: 'DOWN' }, database: { status: 'UP' } } });
  await waitFor('Eureka showing it DOWN', () => eurekaInstances('product'), (list) => list.find((i) => i.instanceId === 'product-in-test')?.status === 'DOWN', 10_000);
  await waitFor('the gateway dropping it', gatewayInstances, (n) => n.product === before, 10_000);

  const servedBefore = await served();
  const answers = await Promise.all(Array.from({ length: 20 }, () => api('GET', `/products/${randomUUID()}`)));
  t.deepEqual(answers.map((a) => a.status), Array(20).fill(404));
  t.is(await served(), servedBefore, 'no request reached the DOWN instance');
});
