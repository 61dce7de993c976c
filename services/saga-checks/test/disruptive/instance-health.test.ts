import test from 'ava';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { databaseEnvironment, settings as stack } from '@cdc-outbox-saga/local-stack';
import { api } from '../helpers/api.js';
import { eurekaInstances, freePort, gatewayInstances, waitFor } from '../helpers/discovery.js';

// A product instance run inside this test process, so the test can stop its Kafka consumer while its
// HTTP server and database stay fine: the real service code, registered in the real Eureka.
process.env.PORT = '0';
process.env.INSTANCE_ID = 'product-in-test';
// It verifies bearer tokens with the stack's key, as the stack's own instances do.
process.env.JWT_PUBLIC_KEY_FILE ??= stack.publicKeyFile;
// Its database accounts, as the stack hands them to the product instances it starts.
Object.assign(process.env, databaseEnvironment('product'));
const { loadSettings, start } = await import('@cdc-outbox-saga/product-service');

test.serial('an instance whose consumer has stopped reports DOWN, in /health and in Eureka, and gets no gateway traffic', async (t) => {
  const before = (await gatewayInstances()).product!;
  const service = await start(await loadSettings());
  t.teardown(() => service.stop());
  await waitFor('the gateway routing to it', gatewayInstances, (n) => n.product === before + 1, 20_000);

  const served = () =>
    service.metrics.httpDuration
      .get()
      .then((m) => m.values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0));
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
  await waitFor(
    'its health DOWN',
    async () => service.health.current,
    (h) => h.status === 'DOWN',
    10_000,
  );
  const health = await fetch(`${service.url}/health`);
  t.is(health.status, 503);
  t.like(await health.json(), { status: 'DOWN', checks: { consumer: { status: 'DOWN' }, database: { status: 'UP' } } });
  await waitFor(
    'Eureka showing it DOWN',
    () => eurekaInstances('product'),
    (list) => list.find((i) => i.instanceId === 'product-in-test')?.status === 'DOWN',
    10_000,
  );
  await waitFor('the gateway dropping it', gatewayInstances, (n) => n.product === before, 10_000);

  const servedBefore = await served();
  const answers = await Promise.all(Array.from({ length: 20 }, () => api('GET', `/products/${randomUUID()}`)));
  t.deepEqual(
    answers.map((a) => a.status),
    Array(20).fill(404),
  );
  t.is(await served(), servedBefore, 'no request reached the DOWN instance');
});

/**
 * A TCP relay to the stack's MariaDB that the test can cut and restore: the instance's database becomes
 * unreachable (connections reset, new ones refused) and reachable again, while MariaDB itself, which every
 * other service uses, stays up.
 */
async function databaseRelay(port: number) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const open = async () => {
    server = createServer((client) => {
      const upstream = connect(stack.ports.mariadb, stack.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  };
  const cut = async () => {
    if (!server?.listening) return;
    const closed = new Promise((resolve) => server!.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  await open();
  return { open, cut };
}

test.serial('an instance whose database is unreachable reports DOWN, in /health and in Eureka, and UP again when it is back', async (t) => {
  const port = await freePort();
  const relay = await databaseRelay(port);
  const settings = await loadSettings();
  const service = await start({
    ...settings,
    service: { ...settings.service, instanceId: 'product-db-in-test' },
    db: { ...settings.db, host: '127.0.0.1', port },
  });
  t.teardown(async () => {
    await service.stop();
    await relay.cut();
  });
  const inEureka = () => eurekaInstances('product').then((list) => list.find((i) => i.instanceId === 'product-db-in-test')?.status);
  await waitFor('Eureka showing it UP', inEureka, (status) => status === 'UP', 10_000);

  await relay.cut();
  await waitFor(
    'its health DOWN',
    async () => service.health.current,
    (h) => h.status === 'DOWN',
    15_000,
  );
  const down = await fetch(`${service.url}/health`);
  t.is(down.status, 503);
  t.like(await down.json(), { status: 'DOWN', checks: { database: { status: 'DOWN' } } });
  await waitFor('Eureka showing it DOWN', inEureka, (status) => status === 'DOWN', 10_000);

  await relay.open();
  await waitFor(
    'its health UP again',
    async () => service.health.current,
    (h) => h.status === 'UP',
    20_000,
  );
  t.is((await fetch(`${service.url}/health`)).status, 200);
  await waitFor('Eureka showing it UP again', inEureka, (status) => status === 'UP', 10_000);
});
