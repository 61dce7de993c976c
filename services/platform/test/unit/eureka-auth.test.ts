import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EurekaClient, basicAuthorization, createLogger, eurekaCredentials, eurekaSettings, fetchApplications } from '../../src/index.js';

const logger = createLogger('eureka-auth-test', 'silent');
const credentials = { username: 'eureka', password: 'a-long-random-secret-0123456789' };
const eurekaBase = { renewalIntervalSeconds: 5, leaseDurationSeconds: 15 };

test('a Eureka URL with credentials in it is refused, without echoing them', (t) => {
  const result = eurekaSettings.safeParse({ ...eurekaBase, serviceUrl: 'http://eureka:hunter2-secret@127.0.0.1:8761/eureka' });
  t.false(result.success);
  const messages = result.error!.issues.map((issue) => issue.message).join(' ');
  t.regex(messages, /EUREKA_USERNAME/);
  t.notRegex(messages, /hunter2/);
});

test('credentials: none when registration is off; the password from its file; missing or given twice fails the start', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'eureka-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'eureka');
  writeFileSync(file, `${credentials.password}\n`);
  const parse = (extra: Record<string, string>) =>
    eurekaSettings.parse({ ...eurekaBase, serviceUrl: 'http://127.0.0.1:8761/eureka', ...extra });

  t.is(eurekaCredentials(eurekaSettings.parse({ ...eurekaBase, serviceUrl: 'off' })), undefined);
  t.deepEqual(eurekaCredentials(parse({ username: 'eureka', passwordFile: file })), credentials);
  t.deepEqual(eurekaCredentials(parse({ username: 'eureka', password: credentials.password })), credentials);
  t.throws(() => eurekaCredentials(parse({ username: 'eureka' })), { message: /EUREKA_PASSWORD/ });
  t.throws(() => eurekaCredentials(parse({ password: credentials.password })), { message: /EUREKA_USERNAME/ });
  t.throws(() => eurekaCredentials(parse({ username: 'eureka', password: 'x', passwordFile: file })), { message: /not both/ });
});

/** A stand-in for Eureka behind HTTP basic: 401 without the right header, else what Eureka answers. */
async function fakeEureka(t: {
  teardown(fn: () => void): void;
}): Promise<{ url: string; seen: Array<{ method: string; path: string; status: number }> }> {
  const seen: Array<{ method: string; path: string; status: number }> = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      const authorized = req.headers.authorization === basicAuthorization(credentials);
      const status = !authorized ? 401 : req.method === 'POST' ? 204 : 200;
      seen.push({ method: req.method!, path: req.url!, status });
      if (status === 401) res.setHeader('www-authenticate', 'Basic realm="Realm"');
      if (authorized && req.method === 'GET') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            applications: {
              application: [
                { name: 'ORDER', instance: [{ instanceId: 'order-1', hostName: '127.0.0.1', status: 'UP', port: { $: 3001 } }] },
              ],
            },
          }),
        );
        return;
      }
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/eureka`, seen };
}

test('the client registers, beats and reads with the credentials on every request', async (t) => {
  const eureka = await fakeEureka(t);
  const client = new EurekaClient(
    { app: 'order', instanceId: 'order-1', host: '127.0.0.1', port: 3001 },
    { serviceUrls: [eureka.url], credentials, logger, renewalIntervalSeconds: 1, leaseDurationSeconds: 5 },
  );
  client.start('UP');
  const deadline = Date.now() + 5000;
  while (!eureka.seen.some((r) => r.method === 'PUT') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await client.stop();
  t.deepEqual(
    [...new Set(eureka.seen.map((r) => `${r.method} ${r.status}`))].sort(),
    ['DELETE 200', 'POST 204', 'PUT 200'],
    'registration, heartbeat and cancel, each accepted',
  );
  const apps = await fetchApplications([eureka.url], 3000, credentials);
  t.is(apps.get('order')?.[0]?.url, 'http://127.0.0.1:3001');
});

test('without credentials the registry refuses: the client never counts as registered, a read throws naming the 401', async (t) => {
  const eureka = await fakeEureka(t);
  const client = new EurekaClient(
    { app: 'order', instanceId: 'order-1', host: '127.0.0.1', port: 3001 },
    { serviceUrls: [eureka.url], logger, renewalIntervalSeconds: 1, leaseDurationSeconds: 5 },
  );
  client.start('UP');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.false(client.isRegistered);
  await client.stop();
  t.true(eureka.seen.length > 0 && eureka.seen.every((r) => r.status === 401));
  await t.throwsAsync(fetchApplications([eureka.url]), { message: /answered 401 \(Eureka wants valid credentials/ });
});
