import test from 'ava';
import { randomUUID } from 'node:crypto';
import { serviceInstanceNames, startComponents, startExtraInstance, stopComponents } from '@cdc-outbox-saga/local-stack';
import { api, createProduct, createUser, placeOrder } from '../helpers/api.js';
import {
  eurekaInstances,
  freePort,
  gatewayInstances,
  gatewayRegistryAgeMs,
  servedCount,
  waitFor,
  waitForValue,
} from '../helpers/discovery.js';
import { activeTargets } from '../helpers/prometheus.js';

// Disruptive: instances come and go and Eureka is stopped, so the files of this folder run one at a time.
// The bounds: a heartbeat every 5 s, a lease of 15 s, eviction every 5 s (Eureka evicts after about twice
// the lease), and the gateway reads Eureka every 3 s.
const configured = () => serviceInstanceNames().filter((name) => name.startsWith('order-')).length;

/** Sends GETs for unknown orders until `instanceUrl` has served one (it is in the rotation); returns how many it has served. */
async function untilServedBy(instanceUrl: string): Promise<number> {
  return waitForValue(
    `traffic reaching ${instanceUrl}`,
    async () => {
      for (let i = 0; i < 6; i++) await api('GET', `/orders/${randomUUID()}`);
      return servedCount(instanceUrl, '/orders/:id');
    },
    (served) => served > 0,
    20_000,
  );
}

test.serial(
  'an order instance started by hand gets traffic through the running gateway; after SIGKILL nothing is lost and it is evicted',
  async (t) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const pid = await startExtraInstance('order', 'order-extra', port);
    let killed = false;
    t.teardown(async () => {
      if (!killed) await stopComponents(['order-extra']);
    });
    await waitFor('gateway routing to the new instance', gatewayInstances, (n) => n.order === configured() + 1, 15_000);
    t.true((await untilServedBy(url)) > 0, 'the new instance served requests through the gateway, which was not restarted');
    // Prometheus finds it through Eureka too, without a reload.
    const foundMs = await waitFor(
      'Prometheus scraping the new instance',
      activeTargets,
      (targets) =>
        targets.some((target) => target.labels.instance === 'order-extra' && target.labels.job === 'order' && target.health === 'up'),
      30_000,
    );
    t.log(`Prometheus scraped the new instance ${Math.round(foundMs / 1000)} s after the gateway routed to it`);

    process.kill(-pid, 'SIGKILL');
    killed = true;
    const killedAt = Date.now();
    // The gateway learns of the death from the first refused connection and sends that request on.
    const answers = await Promise.all(Array.from({ length: 12 }, () => api('GET', `/orders/${randomUUID()}`)));
    t.deepEqual(
      answers.map((a) => a.status),
      Array(12).fill(404),
      'every request answered by a live instance',
    );
    await waitFor('gateway dropping the killed instance', gatewayInstances, (n) => n.order === configured(), 5_000);
    const evictedMs = await waitFor(
      'Eureka evicting the killed instance',
      () => eurekaInstances('order'),
      (list) => !list.some((i) => i.instanceId === 'order-extra'),
      45_000,
    );
    t.log(
      `killed instance out of the gateway at once, evicted by Eureka ${Math.round((Date.now() - killedAt) / 1000)} s after SIGKILL (${evictedMs} ms of waiting)`,
    );
  },
);

test.serial('an instance stopped with SIGTERM deregisters and is gone from Eureka at once', async (t) => {
  const port = await freePort();
  await startExtraInstance('order', 'order-extra', port);
  await waitFor(
    'Eureka listing it UP',
    () => eurekaInstances('order'),
    (list) => list.some((i) => i.instanceId === 'order-extra' && i.status === 'UP'),
    10_000,
  );
  await stopComponents(['order-extra']);
  const list = await eurekaInstances('order');
  t.false(
    list.some((i) => i.instanceId === 'order-extra'),
    'cancelled on a clean stop, not left to expire',
  );
  await waitFor('gateway dropping it', gatewayInstances, (n) => n.order === configured(), 5_000);
});

test.serial('with Eureka stopped the gateway keeps routing; when it returns every instance registers again by itself', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const owners = await stopComponents(['eureka']);
  let restarted = false;
  t.teardown(async () => {
    if (!restarted) await startComponents(['eureka'], owners);
  });
  // Longer than the gateway's refresh period: it has tried Eureka and kept its table.
  await waitFor('the gateway to notice Eureka is gone', gatewayRegistryAgeMs, (age) => age > 4000, 15_000);
  const placed = await placeOrder(userId, [{ productId, quantity: 2 }]);
  t.is(placed.status, 201);
  t.is(placed.body.status, 'COMPLETED');

  // From here until the gateway has read the new registry, it must never route to fewer instances: a
  // restarted Eureka refuses reads until the instances are back, so the gateway keeps its last table.
  const configuredCounts = () =>
    Object.fromEntries(
      ['order', 'product', 'user'].map((service) => [service, serviceInstanceNames().filter((n) => n.startsWith(`${service}-`)).length]),
    );
  const seen: Record<string, number>[] = [];
  let sampling = true;
  t.teardown(() => {
    sampling = false;
  });
  const sampler = (async () => {
    while (sampling) {
      seen.push(await gatewayInstances().catch(() => ({})));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  await startComponents(['eureka'], owners);
  restarted = true;
  const expected = [...serviceInstanceNames(), 'gateway-1', 'config-server-1'].sort();
  const tookMs = await waitFor(
    'every instance back in Eureka',
    async () => (await Promise.all(['order', 'product', 'user', 'gateway', 'config-server'].map(eurekaInstances))).flat(),
    (list) =>
      JSON.stringify(
        list
          .filter((i) => i.status === 'UP')
          .map((i) => i.instanceId)
          .sort(),
      ) === JSON.stringify(expected),
    30_000,
  );
  t.log(
    `all ${expected.length} instances listed ${Math.round(tookMs / 1000)} s after Eureka was up again (it refuses reads for its first 10 s)`,
  );
  // The gateway's next good read of the restarted Eureka.
  const readAt = Date.now();
  await waitFor('the gateway reading the restarted Eureka', gatewayRegistryAgeMs, (age) => age < Date.now() - readAt, 15_000);
  sampling = false;
  await sampler;
  t.deepEqual(await gatewayInstances(), configuredCounts());
  t.true(seen.length > 0);
  for (const counts of seen) t.deepEqual(counts, configuredCounts(), 'the gateway never lost an instance while Eureka came back');
});
