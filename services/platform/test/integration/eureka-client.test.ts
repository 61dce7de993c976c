import test from 'ava';
import { EurekaClient, basicAuthorization, createLogger, eurekaUrls, fetchApplications, type DiscoveredInstance } from '../../src/index.js';
import { stack, uniqueName } from '../helpers/stack.js';

// Against the stack's real Eureka server, behind HTTP basic. Each test registers an application of its own name.
const eureka = eurekaUrls(stack.eureka.url);
const credentials = { username: stack.eureka.username, password: stack.eureka.password };
const logger = createLogger('eureka-client-test', process.env.LOG_LEVEL ?? 'error');

async function listed(app: string): Promise<DiscoveredInstance[]> {
  return (await fetchApplications(eureka, 3000, credentials)).get(app) ?? [];
}

/** Polls Eureka until `condition` holds for the app's instances (or fails after `timeoutMs`). */
async function eventually(app: string, condition: (instances: DiscoveredInstance[]) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const instances = await listed(app);
    if (condition(instances)) return instances;
    if (Date.now() > deadline) throw new Error(`${app}: condition not met within ${timeoutMs} ms; listed ${JSON.stringify(instances)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function client(app: string, port = 45_678) {
  return new EurekaClient(
    { app, instanceId: `${app}-1`, host: '127.0.0.1', port, metadata: { version: '9.9.9', 'management.port': String(port) } },
    { serviceUrls: eureka, credentials, logger, renewalIntervalSeconds: 1, leaseDurationSeconds: 5 },
  );
}

test('an instance registers with its port, status and metadata, and is gone after a clean stop', async (t) => {
  const app = uniqueName('probe');
  const instance = client(app);
  instance.start('UP');
  const [registered] = await eventually(app, (list) => list.length === 1);
  t.like(registered, {
    instanceId: `${app}-1`,
    status: 'UP',
    url: 'http://127.0.0.1:45678',
    metadata: { version: '9.9.9', 'management.port': '45678' },
  });
  await instance.stop();
  t.deepEqual(await listed(app), [], 'a cancelled lease is removed at once');
});

test('a status change is registered at once: DOWN and back UP', async (t) => {
  const app = uniqueName('probe');
  const instance = client(app);
  t.teardown(() => instance.stop());
  instance.start('STARTING');
  await eventually(app, (list) => list[0]?.status === 'STARTING');
  instance.setStatus('UP');
  await eventually(app, (list) => list[0]?.status === 'UP');
  instance.setStatus('DOWN');
  await eventually(app, (list) => list[0]?.status === 'DOWN');
  instance.setStatus('UP');
  t.is((await eventually(app, (list) => list[0]?.status === 'UP'))[0]!.status, 'UP');
});

test('an instance Eureka forgot (restart, eviction) registers again by itself on its next heartbeat', async (t) => {
  const app = uniqueName('probe');
  const instance = client(app);
  t.teardown(() => instance.stop());
  instance.start('UP');
  await eventually(app, (list) => list.length === 1);
  // What Eureka does on eviction or after a restart: it no longer has the lease.
  const cancelled = await fetch(`${eureka[0]}/apps/${app.toUpperCase()}/${app}-1`, {
    method: 'DELETE',
    headers: { authorization: basicAuthorization(credentials) },
  });
  t.is(cancelled.status, 200);
  t.deepEqual(await listed(app), []);
  const back = await eventually(app, (list) => list.length === 1, 5_000);
  t.is(back[0]!.status, 'UP');
});

test('with no Eureka reachable, start() returns at once and registration keeps being retried', async (t) => {
  const app = uniqueName('probe');
  const nowhere = new EurekaClient(
    { app, instanceId: `${app}-1`, host: '127.0.0.1', port: 45_679 },
    // A closed port first, then the real server: the client must get past the first.
    { serviceUrls: ['http://127.0.0.1:9/eureka', ...eureka], credentials, logger, renewalIntervalSeconds: 1, leaseDurationSeconds: 5 },
  );
  t.teardown(() => nowhere.stop());
  nowhere.start('UP');
  t.false(nowhere.isRegistered, 'start() does not wait for Eureka');
  await eventually(app, (list) => list.length === 1);
  t.true(nowhere.isRegistered);
});

test('without credentials, or with a wrong password, Eureka takes no registration and the client never counts as registered', async (t) => {
  const app = uniqueName('probe');
  for (const given of [undefined, { ...credentials, password: `${credentials.password}x` }]) {
    const refused = new EurekaClient(
      { app, instanceId: `${app}-1`, host: '127.0.0.1', port: 45_680 },
      { serviceUrls: eureka, credentials: given, logger, renewalIntervalSeconds: 1, leaseDurationSeconds: 5 },
    );
    t.teardown(() => refused.stop());
    refused.start('UP');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    t.false(refused.isRegistered, given ? 'wrong password' : 'no credentials');
    await refused.stop();
  }
  t.deepEqual(await listed(app), []);
  await t.throwsAsync(fetchApplications(eureka), { message: /answered 401/ }, 'reading the registry needs them too');
});
