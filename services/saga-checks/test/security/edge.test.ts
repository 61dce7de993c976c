import test from 'ava';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { api, bearer, createProduct, createUser, gateway, subject } from '../helpers/api.js';
import { databases } from '../helpers/databases.js';
import { freePort } from '../helpers/discovery.js';
import { runOwnGateway } from '../helpers/processes.js';
import { hasSecurityHeaders, isJsonError, rowSnapshot, seenFetch, seenRaw, writesNothing, type Seen } from './helpers/checks.js';
import { RawConnection, gatewayTarget, httpRequest, rawExchange } from './helpers/raw-http.js';
import { inSeconds, signedToken } from './helpers/tokens.js';

// The gateway's HTTP edge, mostly over raw sockets: what Node's parser refuses, Expect, request targets,
// methods, encodings, headers, timeouts, token lifetimes and what the public port shows.

const { dbs } = databases();
const newMarker = () => `sec-${randomUUID().slice(0, 13)}`;
const hostPort = `${gatewayTarget.host}:${gatewayTarget.port}`;
const authorization = async (): Promise<[string, string]> => ['Authorization', `Bearer ${await bearer()}`];
const json: [string, string] = ['Content-Type', 'application/json'];
const newUserBody = (marker: string) => JSON.stringify({ name: marker, points: 1 });

async function usersNamed(marker: string): Promise<number> {
  return (await rowSnapshot(dbs, { marker })).usersNamed as number;
}

/** A user and a product for the requests that must be accepted, and for the ones refused on their ids. */
const fixture = (async () => ({ userId: await createUser(1_000), productId: await createProduct(1, 1_000) }))();

// --- What Node's parser refuses: a JSON answer and Connection: close --------------------------------

/** Builds the request from the case's marker (put in the body, so a request that got through shows as a row). */
type Build = (marker: string, auth: [string, string]) => Buffer | string;

const refusedOnTheWire = test.macro({
  async exec(t, build: Build, status: number, code: string) {
    const marker = newMarker();
    const request = build(marker, await authorization());
    const exchange = await writesNothing(t, dbs, { marker }, () => rawExchange(request));
    const shown = exchange.raw.slice(0, 400);
    isJsonError(t, seenRaw(exchange.final), status, code, shown);
    t.regex(exchange.final?.header('connection') ?? '', /\bclose\b/i, `Connection: close (${shown})`);
    t.true(exchange.closed, 'the server closed the connection');
  },
  title: (what = '', _build, status, code) => `${what}: ${status} ${code} as JSON with Connection: close, nothing written`,
});

const postUser = (marker: string, headers: Array<[string, string]>, options: Parameters<typeof httpRequest>[2] = {}) =>
  httpRequest('POST', '/api/users', { headers, body: newUserBody(marker), ...options });

test('a garbage request line', refusedOnTheWire, () => 'hello there, gateway\r\n\r\n', 400, 'BAD_REQUEST');
test('HTTP/9.9', refusedOnTheWire, (m, auth) => postUser(m, [auth, json], { version: '9.9' }), 400, 'BAD_REQUEST');
test('a header name with a space', refusedOnTheWire, (m, auth) => postUser(m, [auth, json, ['X Bad', '1']]), 400, 'BAD_REQUEST');
test(
  'a space before the colon',
  refusedOnTheWire,
  (m, auth) => postUser(m, [auth, json, ['Transfer-Encoding ', 'chunked']]),
  400,
  'BAD_REQUEST',
);
test('NUL in a header value', refusedOnTheWire, (m, auth) => postUser(m, [auth, json, ['X-Note', 'a\u0000b']]), 400, 'BAD_REQUEST');
test(
  'a Content-Length that is not a number',
  refusedOnTheWire,
  (m, auth) => postUser(m, [auth, json, ['Content-Length', '12x']], { contentLength: false }),
  400,
  'BAD_REQUEST',
);
test(
  'two different Content-Lengths',
  refusedOnTheWire,
  (m, auth) => {
    const body = newUserBody(m);
    return httpRequest('POST', '/api/users', {
      headers: [auth, json, ['Content-Length', String(body.length)], ['Content-Length', String(body.length + 1)]],
      body,
      contentLength: false,
    });
  },
  400,
  'BAD_REQUEST',
);
test(
  'Content-Length with Transfer-Encoding: chunked',
  refusedOnTheWire,
  (m, auth) => {
    const body = newUserBody(m);
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    return httpRequest('POST', '/api/users', {
      headers: [auth, json, ['Content-Length', String(chunked.length)], ['Transfer-Encoding', 'chunked']],
      body: chunked,
      contentLength: false,
    });
  },
  400,
  'BAD_REQUEST',
);
test('a folded header', refusedOnTheWire, (m, auth) => postUser(m, [auth, json, ['X-Folded', 'first\r\n second']]), 400, 'BAD_REQUEST');
test('two Host headers', refusedOnTheWire, (m, auth) => postUser(m, [auth, json, ['Host', 'elsewhere.example']]), 400, 'BAD_REQUEST');
test(
  '20 KB of headers',
  refusedOnTheWire,
  (m, auth) => {
    const padding = Array.from({ length: 20 }, (_, i): [string, string] => [`X-Padding-${i}`, 'p'.repeat(1000)]);
    return postUser(m, [auth, json, ...padding]);
  },
  431,
  'HEADERS_TOO_LARGE',
);

test('Expect: foo is a 417 EXPECTATION_FAILED as JSON, and nothing is written', async (t) => {
  const marker = newMarker();
  const request = postUser(marker, [await authorization(), json, ['Expect', 'foo']]);
  const exchange = await writesNothing(t, dbs, { marker }, () => rawExchange(request));
  isJsonError(t, seenRaw(exchange.final), 417, 'EXPECTATION_FAILED', exchange.raw.slice(0, 400));
});

// --- Expect: 100-continue: the token first --------------------------------------------------------

/** Sends the head of a POST /api/users with Expect: 100-continue, and returns the first answer. */
async function expectContinue(marker: string, auth: Array<[string, string]>) {
  const body = newUserBody(marker);
  const connection = await RawConnection.open();
  const head = httpRequest('POST', '/api/users', {
    headers: [...auth, json, ['Expect', '100-continue'], ['Content-Length', String(Buffer.byteLength(body))]],
    contentLength: false,
  });
  connection.write(head);
  return { connection, body, first: await connection.response(10_000) };
}

const noContinueWithoutToken = test.macro({
  async exec(t, auth: Array<[string, string]>, code: string) {
    const marker = newMarker();
    await writesNothing(t, dbs, { marker }, async () => {
      const { connection, first } = await expectContinue(marker, auth);
      try {
        isJsonError(t, seenRaw(first), 401, code, connection.received.slice(0, 400));
        t.notRegex(connection.received, /^HTTP\/1\.[01] 100\b/m, 'no 100 Continue was sent');
      } finally {
        connection.destroy();
      }
    });
  },
  title: (what = '') => `Expect: 100-continue ${what} gets the 401 and never a 100 Continue`,
});

test('without a token', noContinueWithoutToken, [], 'TOKEN_MISSING');
test('with a forged token', noContinueWithoutToken, [['Authorization', 'Bearer not.a.jwt']], 'TOKEN_INVALID');

test('Expect: 100-continue with a valid token gets 100 Continue, then the 201 once the body is sent', async (t) => {
  const marker = newMarker();
  const { connection, body, first } = await expectContinue(marker, [await authorization()]);
  try {
    t.is(first?.status, 100, connection.received.slice(0, 400));
    connection.write(Buffer.from(body, 'utf8'));
    const answer = await connection.response(15_000);
    t.is(answer?.status, 201, connection.received.slice(0, 600));
    t.is(answer?.json?.name, marker);
  } finally {
    connection.destroy();
  }
  t.is(await usersNamed(marker), 1);
});

// --- Request targets and methods ------------------------------------------------------------------
// The cases that compare this file's fixture rows and sagas run serially (AVA runs them before the others).

test('an absolute-form target is routed by its path', async (t) => {
  const marker = newMarker();
  const created = await rawExchange(
    httpRequest('POST', `http://${hostPort}/api/users`, { headers: [await authorization(), json], body: newUserBody(marker) }),
  );
  t.is(created.final?.status, 201, created.raw.slice(0, 400));
  t.is(created.final?.json?.name, marker);
  t.is(await usersNamed(marker), 1);
  const { productId } = await fixture;
  const read = await rawExchange(httpRequest('GET', `http://${hostPort}/api/products/${productId}`, { headers: [await authorization()] }));
  t.is(read.final?.status, 200, read.raw.slice(0, 400));
  t.is(read.final?.json?.id, productId);
});

type Ids = { userId: string; productId: string };
const wrongMethod = test.macro<[method: string, path: (ids: Ids) => string, allowed: string]>({
  async exec(t, method, path, allowed) {
    const ids = await fixture;
    const marker = newMarker();
    const withBody = method !== 'GET' && method !== 'DELETE';
    const answer = await writesNothing(t, dbs, { marker, userIds: [ids.userId], productIds: [ids.productId], subject }, () =>
      api(method, path(ids), withBody ? { body: { name: marker, points: 1, price: 1, stock: 1 } } : {}),
    );
    isJsonError(t, seenFetch(answer), 405, 'METHOD_NOT_ALLOWED');
    const allow = (answer.headers.get('allow') ?? '').split(',').map((m) => m.trim().toUpperCase());
    t.true(allow.includes(allowed), `Allow: ${answer.headers.get('allow')}`);
    t.false(allow.includes(method), `Allow: ${answer.headers.get('allow')}`);
  },
  title: (_, method, path, allowed) =>
    `${method} ${path({ userId: ':id', productId: ':id' }).replace(/\/[0-9a-f-]{36}$/, '/:id')} is a 405 with Allow: ${allowed}`,
});

test.serial(wrongMethod, 'DELETE', () => `/orders/${randomUUID()}`, 'GET');
test.serial(wrongMethod, 'PATCH', ({ productId }) => `/products/${productId}`, 'GET');
test.serial(wrongMethod, 'PUT', ({ productId }) => `/products/${productId}`, 'GET');
test.serial(wrongMethod, 'POST', ({ userId }) => `/users/${userId}`, 'GET');
test.serial(wrongMethod, 'PUT', () => '/orders', 'POST');
test.serial(wrongMethod, 'DELETE', () => '/users', 'POST');
test.serial(wrongMethod, 'GET', () => '/orders', 'POST');

test('OPTIONS on a known path is a 204 with Allow once authenticated, a 401 before', async (t) => {
  const { productId } = await fixture;
  const one = await api('OPTIONS', `/orders/${randomUUID()}`);
  t.is(one.status, 204, JSON.stringify(one.body));
  t.regex(one.headers.get('allow') ?? '', /\bGET\b/);
  const collection = await api('OPTIONS', '/users');
  t.is(collection.status, 204, JSON.stringify(collection.body));
  t.regex(collection.headers.get('allow') ?? '', /\bPOST\b/);
  isJsonError(t, seenFetch(await api('OPTIONS', `/products/${productId}`, { token: null })), 401, 'TOKEN_MISSING', 'no token');
});

// --- Encodings ------------------------------------------------------------------------------------

const brokenGzip = test.macro({
  async exec(t, body: (marker: string) => Buffer) {
    const marker = newMarker();
    const answer = await writesNothing(t, dbs, { marker }, async () => {
      const response = await fetch(`${gateway}/api/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await bearer()}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: body(marker),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      return { status: response.status, text, headers: response.headers };
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch {
      parsed = answer.text;
    }
    const seen: Seen = { status: answer.status, body: parsed, header: (name) => answer.headers.get(name) ?? undefined };
    isJsonError(t, seen, 400, 'MALFORMED_BODY', answer.text);
    t.is((parsed as any)?.error?.message, 'the request body could not be decompressed');
    t.notRegex(answer.text, /incorrect header check|unexpected end of file|zlib|Z_/i, 'nothing of zlib');
  },
  title: (what = '') => `Content-Encoding: gzip with ${what} is a 400 MALFORMED_BODY without zlib's words, nothing written`,
});

test('a body that is not gzip at all', brokenGzip, (m) => Buffer.from(newUserBody(m)));
test('a gzip stream cut short', brokenGzip, (m) => {
  const whole = gzipSync(newUserBody(m));
  return whole.subarray(0, whole.length - 12);
});

// --- Security headers -----------------------------------------------------------------------------

test('nosniff and no-store are on 200, 201, 400, 401, 404 and 405 answers', async (t) => {
  const { productId } = await fixture;
  const answers: Array<[string, Seen]> = [
    ['200', seenFetch(await api('GET', `/products/${productId}`))],
    ['201', seenFetch(await api('POST', '/users', { body: { name: newMarker(), points: 1 } }))],
    ['400', seenFetch(await api('POST', '/users', { body: { name: newMarker() } }))],
    ['401', seenFetch(await api('GET', `/products/${productId}`, { token: null }))],
    ['404 (no route)', seenFetch(await api('GET', '/nothing-here'))],
    ['404 (no product)', seenFetch(await api('GET', `/products/${randomUUID()}`))],
    ['405', seenFetch(await api('DELETE', `/products/${productId}`))],
  ];
  for (const [what, seen] of answers) hasSecurityHeaders(t, seen, what);
  t.deepEqual(
    answers.map(([, seen]) => seen.status),
    [200, 201, 400, 401, 404, 404, 405],
  );
  const refused = await rawExchange('garbage\r\n\r\n');
  hasSecurityHeaders(t, seenRaw(refused.final), `parser error (${refused.raw.slice(0, 200)})`);
});

test('nosniff and no-store are on a 503 too (a gateway of this test whose only instance is down)', async (t) => {
  const deadPort = await freePort();
  const gateway = await runOwnGateway({
    routes: [{ prefix: '/api/products', service: 'product', rewrite: '/products', targets: `http://127.0.0.1:${deadPort}` }],
  });
  try {
    const response = await fetch(`${gateway.url}/api/products/${randomUUID()}`, { headers: { authorization: `Bearer ${await bearer()}` } });
    const text = await response.text();
    const seen: Seen = { status: response.status, body: JSON.parse(text), header: (name) => response.headers.get(name) ?? undefined };
    isJsonError(t, seen, 503, 'SERVICE_UNAVAILABLE', text);
    hasSecurityHeaders(t, seen, '503');
  } finally {
    await gateway.stop();
  }
});

// --- Hop-by-hop headers ---------------------------------------------------------------------------

test.serial('a header named in Connection is not forwarded: Idempotency-Key so named makes two orders, not one', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(1, 10);
  const key = `sec-${randomUUID()}`;
  const body = JSON.stringify({ userId, items: [{ productId, quantity: 1 }] });
  const place = async () =>
    rawExchange(
      httpRequest('POST', '/api/orders', {
        headers: [await authorization(), json, ['Prefer', 'wait=30'], ['Connection', 'close, Idempotency-Key'], ['Idempotency-Key', key]],
        body,
      }),
      { timeoutMs: 40_000 },
    );
  const first = await place();
  const second = await place();
  t.is(first.final?.status, 201, first.raw.slice(0, 600));
  t.is(second.final?.status, 201, second.raw.slice(0, 600));
  t.not(second.final?.json?.id, first.final?.json?.id, 'the service never saw the key');
  t.is((await rowSnapshot(dbs, { idempotencyKeys: [key] })).sagasByKey, 0, 'no saga holds the key');
});

// --- Slow clients ---------------------------------------------------------------------------------

test('a client sending one header line a second is cut off within 12 s (a 408 JSON at most)', async (t) => {
  const connection = await RawConnection.open();
  connection.write(`POST /api/users HTTP/1.1\r\nHost: ${hostPort}\r\n`);
  let line = 0;
  const timer = setInterval(() => connection.write(`X-Slow-${line++}: ${'s'.repeat(10)}\r\n`), 1000);
  try {
    // Waits for the close itself, with a deadline: the assertion is on when it came.
    const closed = await connection.closed(15_000);
    t.true(closed, `still open after ${Date.now() - connection.openedAt} ms and ${line} header lines`);
    t.true((connection.closedAfterMs ?? Infinity) <= 12_000, `closed after ${connection.closedAfterMs} ms`);
    const answer = await connection.response(0);
    if (answer) isJsonError(t, seenRaw(answer), 408, 'REQUEST_TIMEOUT', connection.received.slice(0, 400));
  } finally {
    clearInterval(timer);
    connection.destroy();
  }
});

// --- Token lifetimes ------------------------------------------------------------------------------

const refusedToken = test.macro({
  async exec(t, claims: () => Parameters<typeof signedToken>[0]) {
    const marker = newMarker();
    const token = await signedToken(claims());
    const answer = await writesNothing(t, dbs, { marker }, () => api('POST', '/users', { body: { name: marker, points: 1 }, token }));
    isJsonError(t, seenFetch(answer), 401, 'TOKEN_INVALID');
  },
  title: (what = '') => `a token ${what} is a 401 TOKEN_INVALID and writes nothing`,
});

test('issued an hour from now', refusedToken, () => ({ sub: subject, iat: inSeconds(3600), exp: inSeconds(7200) }));
test('valid for 100 years', refusedToken, () => ({ sub: subject, iat: inSeconds(0), exp: inSeconds(100 * 365 * 86_400) }));
test('valid for 25 hours', refusedToken, () => ({ sub: subject, iat: inSeconds(0), exp: inSeconds(25 * 3600) }));
test('without iat', refusedToken, () => ({ sub: subject, iat: null, exp: inSeconds(600) }));

test('a token issued 10 s from now (inside the clock tolerance) and valid for 23 hours is accepted', async (t) => {
  const { productId } = await fixture;
  const token = await signedToken({ sub: subject, iat: inSeconds(10), exp: inSeconds(23 * 3600) });
  const answer = await api('GET', `/products/${productId}`, { token });
  t.is(answer.status, 200, JSON.stringify(answer.body));
});

// --- What the public port shows -------------------------------------------------------------------

test('the public /health says UP or DOWN and nothing else', async (t) => {
  const response = await fetch(`${gateway}/health`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  t.is(response.status, 200, text);
  t.deepEqual(JSON.parse(text), { status: 'UP' });
  t.notRegex(text, /\/work|file:|instance|registry/i);
});

test('/metrics on the public port is not the metrics, with or without a token', async (t) => {
  for (const token of [null, await bearer()]) {
    const response = await fetch(`${gateway}/metrics`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    t.not(response.status, 200, text.slice(0, 200));
    t.notRegex(text, /^# (HELP|TYPE) /m, 'no Prometheus text');
    t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
    t.is(typeof (JSON.parse(text) as any)?.error?.code, 'string', text.slice(0, 200));
  }
});

test('the metrics are on the management port, on 127.0.0.1', async (t) => {
  const port = Number(process.env.STACK_GATEWAY_MANAGEMENT_PORT || 8079);
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) }).catch((error: Error) => error);
  if (response instanceof Error) {
    t.fail(`nothing answers on 127.0.0.1:${port}: ${response.message} (${(response.cause as Error | undefined)?.message ?? ''})`);
    return;
  }
  const text = await response.text();
  t.is(response.status, 200);
  t.regex(text, /^# (HELP|TYPE) /m);
});
