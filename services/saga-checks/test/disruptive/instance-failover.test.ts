import test from 'ava';
import { serviceInstanceNames, startComponents, stopComponents } from '@cdc-outbox-saga/local-stack';
import { api, createProduct, createUser, placeOrder } from '../helpers/api.js';
import { gatewayInstances, waitFor } from '../helpers/discovery.js';

// Disruptive: it takes an order instance away, so the files of this folder run one at a time.
test.serial('with one order instance down, every request through the gateway still succeeds', async (t) => {
  const orderInstances = serviceInstanceNames().filter((name) => name.startsWith('order-'));
  if (orderInstances.length < 2) {
    t.fail(`needs two order instances (npm test starts two of each), has ${orderInstances.join(', ')}`);
    return;
  }
  // Every configured instance routable first, whatever the tests before this one did to the stack.
  const counts = (service: string) => serviceInstanceNames().filter((name) => name.startsWith(`${service}-`)).length;
  await waitFor(
    'the gateway routing to every configured instance',
    gatewayInstances,
    (n) => ['order', 'product', 'user'].every((service) => n[service] === counts(service)),
    30_000,
  );
  const userId = await createUser(1000);
  const productId = await createProduct(1, 100);
  const owners = await stopComponents([orderInstances[0]!]);
  try {
    // The stopped instance deregistered; until the gateway's next read of Eureka it may still list it, and a
    // request sent there is refused and goes on to a live one. The order service's consumer group hands the
    // stopped instance's partitions over.
    const placed = [];
    for (let i = 0; i < 6; i++) placed.push(await placeOrder(userId, [{ productId, quantity: 1 }]));
    t.deepEqual(
      placed.map((answer) => `${answer.status} ${answer.body.status}`),
      Array(6).fill('201 COMPLETED'),
    );
    for (const answer of placed) {
      const read = await api('GET', `/orders/${answer.body.id}`);
      t.is(read.status, 200);
      t.is(read.body.status, 'COMPLETED');
    }
    t.is((await api('GET', `/products/${productId}`)).body.stock, 94);
  } finally {
    await startComponents([orderInstances[0]!], owners);
  }
});
