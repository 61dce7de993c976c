import test from 'ava';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { start, type GatewaySettings, type RunningGateway } from '../../src/start.js';

// A signing key of this file's own; the gateway reads its public half from a file, as in the stack.
const { publicKey, privateKey } = await generateKeyPair('ES256');
const publicKeyFile = join(mkdtempSync(join(tmpdir(), 'gateway-test-')), 'jwt-public-key.json');
writeFileSync(publicKeyFile, JSON.stringify(await exportJWK(publicKey)));
const token = await new SignJWT({ scope: '' })
  .setProtectedHeader({ alg: 'ES256' })
  .setSubject('gateway-test')
  .setIssuer('test-issuer')
  .setAudience('test-audience')
  .setIssuedAt()
  .setExpirationTime('10m')
  .sign(privateKey);

/** fetch with the test's bearer token. */
function call(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
}

// Real sockets on both sides: the gateway under test, and small upstream servers that behave as a
// healthy, a silent or a crashing service instance would.
async function upstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<{ url: string; server: Server }> {
  // A handler that throws fails the test through the answer it does not send; nothing awaits it here.
  const server = createServer((req, res) => void handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** An instance that answers `{}` and counts the requests that reach it. */
async function countingUpstream(): Promise<{ url: string; reached: () => number }> {
  let reached = 0;
  const counting = await upstream((_req, res) => {
    reached++;
    res.end('{}');
  });
  servers.push(counting.server);
  return { url: counting.url, reached: () => reached };
}

const echo = (name: string) =>
  upstream(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        name,
        method: req.method,
        url: req.url,
        requestId: req.headers['x-request-id'],
        traceparent: req.headers.traceparent,
        body: Buffer.concat(chunks).toString(),
        contentLength: req.headers['content-length'],
        contentEncoding: req.headers['content-encoding'],
      }),
    );
  });

/** A port nobody listens on: bind, note, close. */
async function closedPort(): Promise<string> {
  const { url, server } = await upstream(() => undefined);
  await new Promise((resolve) => server.close(resolve));
  return url;
}

async function gatewayFor(
  routes: GatewaySettings['routes'],
  timeoutMs = 2000,
  rateLimit = { capacity: 1000, refillPerSecond: 1000 },
): Promise<RunningGateway> {
  return start({
    service: { name: 'gateway', instanceId: 'gateway-test' },
    http: { host: '127.0.0.1', port: 0, maxBodyBytes: 1024 },
    management: { host: '127.0.0.1', port: 0 },
    upstream: { connectTimeoutMs: 1000, timeoutMs, keepAlive: true },
    outlier: { consecutiveFailures: 3, ejectionMs: 60_000 },
    // Fixed targets on every route: these tests are about proxying, not discovery.
    eureka: { serviceUrl: [], renewalIntervalSeconds: 5, leaseDurationSeconds: 15, registryRefreshMs: 1000 },
    auth: { publicKeyFile, issuer: 'test-issuer', audience: 'test-audience', clockToleranceSeconds: 0 },
    rateLimit,
    log: { level: 'warn' },
    config: { refreshMs: 60_000 },
    routes,
  });
}

const json = async (response: Response): Promise<any> => response.json();

const servers: Server[] = [];
const gateways: RunningGateway[] = [];
test.after.always(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

async function setup(routes: GatewaySettings['routes'], timeoutMs?: number, rateLimit?: GatewaySettings['rateLimit']) {
  const gateway = await gatewayFor(routes, timeoutMs, rateLimit);
  gateways.push(gateway);
  return gateway;
}

test('requests are routed by prefix, with /api cut off, round robin over the instances', async (t) => {
  const a = await echo('a');
  const b = await echo('b');
  servers.push(a.server, b.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [a.url, b.url] }]);
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await json(await call(`${gateway.url}/api/orders/42?x=1`)));
  t.deepEqual(
    answers.map((x) => x.name),
    ['a', 'b', 'a', 'b'],
  );
  t.is(answers[0].url, '/orders/42?x=1');
});

test('the client request id is passed on and echoed; without one the gateway makes one; traceparent keeps its trace', async (t) => {
  const a = await echo('a');
  servers.push(a.server);
  const gateway = await setup([{ prefix: '/api/users', service: 'user', rewrite: '/users', targets: [a.url] }]);
  const traceparent = `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`;
  const given = await call(`${gateway.url}/api/users`, { headers: { 'x-request-id': 'req-123', traceparent } });
  t.is(given.headers.get('x-request-id'), 'req-123');
  const body = await json(given);
  t.is(body.requestId, 'req-123');
  t.is(body.traceparent.split('-')[1], 'c'.repeat(32));
  t.not(body.traceparent.split('-')[2], 'd'.repeat(16), 'a new span for the next hop');

  const fresh = await call(`${gateway.url}/api/users`);
  t.regex(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  t.is((await json(fresh)).requestId, fresh.headers.get('x-request-id'));
});

test('a refused request goes to the next instance, body and all; the refusing one is skipped for a while', async (t) => {
  const alive = await echo('alive');
  servers.push(alive.server);
  const [dead1, dead2] = [await closedPort(), await closedPort()];
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [dead1, dead2, alive.url] }]);
  // Neither dead instance ever saw the POST, so it is safe to send it on, whatever the method.
  const body = JSON.stringify({ userId: 'u', items: [{ productId: 'p', quantity: 2 }] });
  const first = await call(`${gateway.url}/api/orders/7`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
    body,
  });
  t.is(first.status, 200);
  t.like(await json(first), { name: 'alive', method: 'POST', url: '/orders/7', body, contentLength: String(body.length) });
  for (let i = 0; i < 3; i++) t.is((await json(await call(`${gateway.url}/api/orders`))).name, 'alive');
});

test('every instance refusing is a JSON 503', async (t) => {
  const gateway = await setup([
    { prefix: '/api/products', service: 'product', rewrite: '/products', targets: [await closedPort(), await closedPort()] },
  ]);
  for (const expected of ['the product service is not reachable', 'no instance of the product service is reachable']) {
    const answer = await call(`${gateway.url}/api/products`);
    t.is(answer.status, 503);
    t.like(await answer.json(), { error: { code: 'SERVICE_UNAVAILABLE', message: expected } });
  }
});

test('a gzip body is passed on decoded, with headers that say so', async (t) => {
  const a = await echo('a');
  servers.push(a.server);
  const gateway = await setup([{ prefix: '/api/users', service: 'user', rewrite: '/users', targets: [a.url] }]);
  const body = JSON.stringify({ name: 'Ada', points: 40 });
  const answer = await json(
    await call(`${gateway.url}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(body),
    }),
  );
  t.like(answer, { body, contentLength: String(body.length), contentEncoding: undefined });
});

test('a body over the gateway limit is a JSON 413 and never reaches a service', async (t) => {
  const counting = await countingUpstream();
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [counting.url] }]);
  const answer = await call(`${gateway.url}/api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ padding: 'x'.repeat(2048) }),
  });
  t.is(answer.status, 413);
  t.like(await answer.json(), { error: { code: 'BODY_TOO_LARGE' } });
  t.is(counting.reached(), 0);
});

test('an instance that does not answer in time is a JSON 504', async (t) => {
  const silent = await upstream(() => undefined);
  servers.push(silent.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [silent.url] }], 300);
  const answer = await call(`${gateway.url}/api/orders`);
  t.is(answer.status, 504);
  t.like(await answer.json(), { error: { code: 'GATEWAY_TIMEOUT' } });
});

test('an instance that drops the connection mid-request is a JSON 502', async (t) => {
  const crashing = await upstream((req) => void req.socket.destroy());
  servers.push(crashing.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [crashing.url] }]);
  const answer = await call(`${gateway.url}/api/orders`);
  t.is(answer.status, 502);
  t.like(await answer.json(), { error: { code: 'BAD_GATEWAY' } });
});

/** Answers the first request of each connection and drops the connection on the second, as an instance killed between two requests would. */
async function closingAfterOne() {
  const seen = new WeakSet<object>();
  let received = 0;
  const instance = await upstream((req, res) => {
    received++;
    if (seen.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    seen.add(req.socket);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name: 'closing' }));
  });
  return { ...instance, received: () => received };
}

test('a GET that meets a kept-alive connection the instance just dropped goes to the next instance', async (t) => {
  const closing = await closingAfterOne();
  const b = await echo('b');
  servers.push(closing.server, b.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [closing.url, b.url] }]);
  const names = [];
  // closing (new connection), b, closing again on the kept-alive connection: dropped, so b answers it.
  for (let i = 0; i < 3; i++) {
    const answer = await call(`${gateway.url}/api/orders/${i}`);
    t.is(answer.status, 200);
    names.push(((await answer.json()) as { name: string }).name);
  }
  t.deepEqual(names, ['closing', 'b', 'b']);
  t.is(closing.received(), 2);
});

test('a POST that meets a dropped kept-alive connection is a 502 and is not sent again', async (t) => {
  const closing = await closingAfterOne();
  let bReceived = 0;
  const b = await upstream((_req, res) => {
    bReceived++;
    res.end('{}');
  });
  servers.push(closing.server, b.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [closing.url, b.url] }]);
  const post = () => call(`${gateway.url}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  t.is((await post()).status, 200);
  t.is((await post()).status, 200);
  const third = await post();
  t.is(third.status, 502, 'the instance may have read it: not ours to send twice');
  t.like(await third.json(), { error: { code: 'BAD_GATEWAY' } });
  t.is(closing.received(), 2);
  t.is(bReceived, 1);
});

test('a GET that times out on a kept-alive connection is a 504 and is not sent to another instance', async (t) => {
  // Each instance answers the first request of a connection and then keeps the next one waiting.
  const received = { a: 0, b: 0 };
  const slowAfterOne = (name: 'a' | 'b') => {
    const seen = new WeakSet<object>();
    return upstream((req, res) => {
      received[name]++;
      if (seen.has(req.socket)) return;
      seen.add(req.socket);
      res.end('{}');
    });
  };
  const a = await slowAfterOne('a');
  const b = await slowAfterOne('b');
  servers.push(a.server, b.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [a.url, b.url] }], 300);
  t.is((await call(`${gateway.url}/api/orders/1`)).status, 200);
  t.is((await call(`${gateway.url}/api/orders/2`)).status, 200);
  const slow = await call(`${gateway.url}/api/orders/3`);
  t.is(slow.status, 504);
  t.like(await slow.json(), { error: { code: 'GATEWAY_TIMEOUT' } });
  t.deepEqual(received, { a: 2, b: 1 }, 'the instance that has it keeps it; nobody else gets it');
});

test('refused tokens count against the client address: past its limit, 429 before any signature is checked', async (t) => {
  const counting = await countingUpstream();
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [counting.url] }], 2000, {
    capacity: 3,
    refillPerSecond: 1,
  });
  const forged = (await call(`${gateway.url}/api/orders/1`, { headers: { authorization: 'Bearer not.a.jwt' } })).status;
  const statuses = [forged];
  for (let i = 0; i < 4; i++)
    statuses.push((await fetch(`${gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${token}x` } })).status);
  t.deepEqual(statuses, [401, 401, 401, 429, 429]);
  const bare = await fetch(`${gateway.url}/api/orders/1`);
  t.is(bare.status, 429, 'no token at all: the same address, the same bucket');
  t.is(counting.reached(), 0);
  // The address is spent, whatever it sends, until its bucket refills (1/s here); then a valid token goes
  // through, counted against its subject.
  t.is((await call(`${gateway.url}/api/orders/1`)).status, 429);
  let status = 429;
  for (const started = Date.now(); status === 429 && Date.now() - started < 5000;) {
    status = (await call(`${gateway.url}/api/orders/1`)).status;
    if (status === 429) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.is(status, 200);
  t.is(counting.reached(), 1);
});

test('a path outside every route is a JSON 404', async (t) => {
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: ['http://127.0.0.1:9'] }]);
  const answer = await call(`${gateway.url}/nowhere`);
  t.is(answer.status, 404);
  t.like(await answer.json(), { error: { code: 'NOT_FOUND' } });
});

test('connections to an instance are kept alive: many requests, one TCP connection', async (t) => {
  const a = await echo('a');
  servers.push(a.server);
  let connections = 0;
  a.server.on('connection', () => connections++);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [a.url] }]);
  for (let i = 0; i < 20; i++) t.is((await call(`${gateway.url}/api/orders/${i}`)).status, 200);
  t.is(connections, 1);
});

test('a request without a valid token gets a JSON 401 and never reaches an instance', async (t) => {
  const counting = await countingUpstream();
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [counting.url] }]);
  const missing = await fetch(`${gateway.url}/api/orders`, { method: 'POST', body: '{}' });
  t.is(missing.status, 401);
  t.is(missing.headers.get('www-authenticate'), 'Bearer realm="cdc-outbox-saga"');
  const forged = await fetch(`${gateway.url}/api/orders`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
  t.is(forged.status, 401);
  t.like(await forged.json(), { error: { code: 'TOKEN_INVALID' } });
  t.is(counting.reached(), 0);
});

/** Raw bytes to the gateway, the answer as text once the connection closes (or after `waitMs`). */
async function rawExchange(
  url: string,
  send: (socket: Socket, received: () => string) => Promise<void> | void,
  waitMs = 3000,
): Promise<string> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  await send(socket, () => text);
  const timer = setTimeout(() => socket.destroy(), waitMs);
  await closed;
  clearTimeout(timer);
  return text;
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  for (const started = Date.now(); !check() && Date.now() - started < ms;) await new Promise((resolve) => setTimeout(resolve, 20));
}

test('Expect: 100-continue without a valid token: the 401 and no 100, and the connection is closed', async (t) => {
  const counting = await countingUpstream();
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [counting.url] }]);
  const answer = await rawExchange(gateway.url, (socket) => {
    socket.write(
      'POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n',
    );
  });
  t.notRegex(answer, /100 Continue/);
  t.regex(answer, /^HTTP\/1\.1 401 /);
  t.regex(answer, /\r\nConnection: close\r\n/i);
  t.is(counting.reached(), 0);
});

test('Expect: 100-continue with a valid token: 100, then the body goes through', async (t) => {
  const a = await echo('a');
  servers.push(a.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [a.url] }]);
  const answer = await rawExchange(gateway.url, async (socket, received) => {
    socket.write(
      `POST /api/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
    await until(() => received().includes('100 Continue'));
    socket.write('{}');
  });
  t.regex(answer, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  const body = JSON.parse(answer.slice(answer.lastIndexOf('\r\n\r\n') + 4)) as { body: string; method: string };
  t.like(body, { method: 'POST', body: '{}' });
});

test('hop-by-hop headers are dropped both ways; answers carry the security headers whatever the instance says', async (t) => {
  let seen: Record<string, unknown> = {};
  const instance = await upstream((req, res) => {
    seen = req.headers;
    res.setHeader('content-type', 'application/json');
    res.setHeader('connection', 'x-internal');
    res.setHeader('x-internal', 'secret');
    res.setHeader('proxy-authenticate', 'Basic');
    res.setHeader('cache-control', 'max-age=600');
    res.end('{}');
  });
  servers.push(instance.server);
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: [instance.url] }]);
  const answer = await rawExchange(gateway.url, (socket) => {
    socket.write(
      `GET /api/orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nTE: trailers\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eDp4\r\nX-Kept: yes\r\n\r\n`,
    );
  });
  for (const name of ['x-secret', 'te', 'keep-alive', 'proxy-authorization']) t.false(name in seen, `${name} reached the instance`);
  t.is(seen['x-kept'], 'yes');
  t.truthy(seen.authorization);
  const head = answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase();
  t.regex(head, /^http\/1\.1 200 /);
  t.notRegex(head, /x-internal|proxy-authenticate/);
  t.regex(head, /\r\ncache-control: no-store\r\n/);
  t.regex(head, /\r\nx-content-type-options: nosniff\r\n/);
  t.regex(head, /\r\nconnection: close(\r\n|$)/);
});

test('the public /health says UP and no more; the details and /metrics are on the management port only', async (t) => {
  const gateway = await setup([{ prefix: '/api/orders', service: 'order', rewrite: '/orders', targets: ['http://127.0.0.1:9'] }]);
  const health = await fetch(`${gateway.url}/health`);
  t.is(health.status, 200);
  t.deepEqual(await health.json(), { status: 'UP' });
  t.is(health.headers.get('cache-control'), 'no-store');
  const post = await fetch(`${gateway.url}/health`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.like(await post.json(), { error: { code: 'METHOD_NOT_ALLOWED' } });
  t.is((await fetch(`${gateway.url}/metrics`)).status, 401, 'no token: like any path that is not public');
  t.is((await call(`${gateway.url}/metrics`)).status, 404, 'with a token: there is no /metrics here');

  const details = await fetch(`${gateway.managementUrl}/health`);
  t.like(await details.json(), { status: 'UP', instance: 'gateway-test', instances: { order: 1 } });
  const metrics = await fetch(`${gateway.managementUrl}/metrics`);
  t.is(metrics.status, 200);
  t.regex(await metrics.text(), /gateway_upstream_instances\{service="order"/);
  t.regex(gateway.managementUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('a broken gzip body is 400 MALFORMED_BODY without zlib words, and never reaches an instance', async (t) => {
  const counting = await countingUpstream();
  const gateway = await setup([{ prefix: '/api/users', service: 'user', rewrite: '/users', targets: [counting.url] }]);
  const answer = await call(`${gateway.url}/api/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: 'not gzip at all',
  });
  t.is(answer.status, 400);
  t.deepEqual(await answer.json(), { error: { code: 'MALFORMED_BODY', message: 'the request body could not be decompressed' } });
  t.is(answer.headers.get('x-content-type-options'), 'nosniff');
  t.is(counting.reached(), 0);
});

test("an absolute-form target is routed by its path; an instance's 405 comes back with its Allow", async (t) => {
  const instance = await upstream((req, res) => {
    if (req.method === 'DELETE') {
      res.writeHead(405, { allow: 'GET', 'content-type': 'application/json' });
      res.end('{"error":{"code":"METHOD_NOT_ALLOWED","message":"no"}}');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url }));
  });
  servers.push(instance.server);
  const gateway = await setup([{ prefix: '/api/users', service: 'user', rewrite: '/users', targets: [instance.url] }]);
  const answer = await rawExchange(gateway.url, (socket) => {
    socket.write(`GET ${gateway.url}/api/users/5?x=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  });
  t.regex(answer, /^HTTP\/1\.1 200 /);
  t.deepEqual(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { url: '/users/5?x=1' });
  const wrong = await call(`${gateway.url}/api/users/5`, { method: 'DELETE' });
  t.is(wrong.status, 405);
  t.is(wrong.headers.get('allow'), 'GET');
});

test('a parser error at the gateway is a JSON 400 with Connection: close', async (t) => {
  const gateway = await setup([{ prefix: '/api/users', service: 'user', rewrite: '/users', targets: ['http://127.0.0.1:9'] }]);
  const answer = await rawExchange(gateway.url, (socket) => {
    socket.write('GET /api/users HTTP/9.9\r\nHost: x\r\n\r\n');
  });
  t.regex(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.regex(answer, /\r\nConnection: close\r\n/);
  t.like(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { error: { code: 'BAD_REQUEST' } });
});
