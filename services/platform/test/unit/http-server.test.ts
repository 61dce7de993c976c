import test from 'ava';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import {
  allowedMethods,
  clientErrorResponse,
  createHttpApp,
  createLogger,
  finishHttpApp,
  hostHeaderCount,
  listen,
  originForm,
  type HttpServerOptions,
} from '../../src/index.js';

test('a parser error is answered with a complete JSON response that closes the connection', (t) => {
  const text = clientErrorResponse('HPE_HEADER_OVERFLOW')!;
  const [head, body] = text.split('\r\n\r\n') as [string, string];
  t.is(head.split('\r\n')[0], 'HTTP/1.1 431 Request Header Fields Too Large');
  t.regex(head, /\r\nContent-Type: application\/json; charset=utf-8\r\n/);
  t.regex(head, new RegExp(`\\r\\nContent-Length: ${Buffer.byteLength(body)}\\r\\n`));
  t.regex(head, /\r\nConnection: close(\r\n|$)/);
  t.regex(head, /\r\nx-content-type-options: nosniff\r\n/i);
  t.regex(head, /\r\ncache-control: no-store\r\n/i);
  t.is(JSON.parse(body).error.code, 'HEADERS_TOO_LARGE');
});

test('each kind of parser error has its status; a socket error gets no answer', (t) => {
  const status = (code: string) => clientErrorResponse(code)?.split('\r\n')[0];
  t.is(status('HPE_INVALID_METHOD'), 'HTTP/1.1 400 Bad Request');
  t.is(status('HPE_INVALID_VERSION'), 'HTTP/1.1 400 Bad Request');
  t.is(status('HPE_UNEXPECTED_CONTENT_LENGTH'), 'HTTP/1.1 400 Bad Request');
  t.is(status('ERR_HTTP_REQUEST_TIMEOUT'), 'HTTP/1.1 408 Request Timeout');
  t.is(clientErrorResponse('ECONNRESET'), undefined);
  t.is(clientErrorResponse('EPIPE'), undefined);
  t.is(clientErrorResponse(undefined), undefined);
});

test('an absolute-form target becomes its path and query; other targets stay as given', (t) => {
  t.is(originForm('http://127.0.0.1:8080/api/users?x=1'), '/api/users?x=1');
  t.is(originForm('HTTPS://example.com/a/b'), '/a/b');
  t.is(originForm('http://example.com'), '/');
  t.is(originForm('http://example.com?q'), '/?q');
  t.is(originForm('/api/users'), '/api/users');
  t.is(originForm('/http://x/y'), '/http://x/y');
  t.is(originForm('*'), '*');
});

test('Host headers are counted whatever their case', (t) => {
  t.is(hostHeaderCount(['Host', 'a', 'Accept', '*/*']), 1);
  t.is(hostHeaderCount(['host', 'a', 'HOST', 'b']), 2);
  t.is(hostHeaderCount(['Accept', '*/*']), 0);
});

// A real server, as a service has one: createHttpApp's edge, routes, finishHttpApp, the shared listen().
function serviceApp() {
  const app = createHttpApp();
  app.get('/things/:id', (req, res) => {
    res.json({ id: req.params.id, url: req.originalUrl });
  });
  app.post('/things', (req, res) => {
    res.status(201).json({ body: req.body as unknown });
  });
  app.get('/slow', (_req, res) => {
    setTimeout(() => res.json({ slow: true }), 1500);
  });
  finishHttpApp(app, createLogger('http-server-test', 'silent'));
  return app;
}

async function serve(options: HttpServerOptions = {}): Promise<{ port: number; server: Server }> {
  const server = await listen(serviceApp(), '127.0.0.1', 0, options);
  return { port: (server.address() as AddressInfo).port, server };
}

let shared: { port: number; server: Server };
test.before(async () => {
  shared = await serve();
});
test.after.always(() => {
  shared.server.closeAllConnections();
  shared.server.close();
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from the first byte sent to the connection's close. */
  closedAfterMs: number;
}

/** Sends raw bytes (in pieces `gapMs` apart when given as an array) and reads until the server closes. */
async function raw(port: number, request: string | string[], gapMs = 0): Promise<RawAnswer> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = once(socket, 'close');
  socket.on('error', () => undefined);
  const pieces = Array.isArray(request) ? request : [request];
  void (async () => {
    for (const piece of pieces) {
      if (socket.destroyed || socket.writableEnded) return;
      socket.write(piece);
      if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  })();
  // Keep-alive answers do not close: give up reading after a while.
  const timer = setTimeout(() => socket.destroy(), 15_000);
  await closed;
  clearTimeout(timer);
  const text = Buffer.concat(chunks).toString('latin1');
  const [head = '', ...rest] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n'), closedAfterMs: Date.now() - started };
}

const close = 'Connection: close\r\n';

for (const [name, request, status, code] of [
  ['a garbage request line', 'HELLO\r\n\r\n', 400, 'BAD_REQUEST'],
  ['HTTP/9.9', 'GET /things/1 HTTP/9.9\r\nHost: x\r\n\r\n', 400, 'BAD_REQUEST'],
  ['a bad header name', 'GET /things/1 HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n', 400, 'BAD_REQUEST'],
  ['a NUL in a header', 'GET /things/1 HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n', 400, 'BAD_REQUEST'],
  ['a bad Content-Length', 'POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n', 400, 'BAD_REQUEST'],
  ['a folded header', 'GET /things/1 HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n', 400, 'BAD_REQUEST'],
  ['20 KB of headers', `GET /things/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
  ['two Host headers', `GET /things/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n${close}\r\n`, 400, 'BAD_REQUEST'],
  ['no Host header', `GET /things/1 HTTP/1.1\r\n${close}\r\n`, 400, 'BAD_REQUEST'],
  ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 501, 'NOT_IMPLEMENTED'],
  [
    'an Expect other than 100-continue',
    `POST /things HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n${close}\r\n`,
    417,
    'EXPECTATION_FAILED',
  ],
] as const) {
  test(`${name}: ${status} ${code} in JSON, with Connection: close and the security headers`, async (t) => {
    const answer = await raw(shared.port, request);
    t.is(answer.status, status);
    t.is(answer.headers['content-type'], 'application/json; charset=utf-8');
    t.is(answer.headers.connection, 'close');
    t.is(answer.headers['x-content-type-options'], 'nosniff');
    t.is(answer.headers['cache-control'], 'no-store');
    t.is(JSON.parse(answer.body).error.code, code);
  });
}

test('an absolute-form target is routed by its path', async (t) => {
  const answer = await raw(shared.port, `GET http://127.0.0.1:9/things/42?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n${close}\r\n`);
  t.is(answer.status, 200);
  t.deepEqual(JSON.parse(answer.body), { id: '42', url: '/things/42?x=1' });
});

test('a path parameter that does not percent-decode is 400 MALFORMED_PATH', async (t) => {
  const response = await fetch(`http://127.0.0.1:${shared.port}/things/%ZZ`);
  t.is(response.status, 400);
  t.is(((await response.json()) as { error: { code: string } }).error.code, 'MALFORMED_PATH');
});

test('a gzip body that does not decompress is 400 MALFORMED_BODY, without zlib words', async (t) => {
  const response = await fetch(`http://127.0.0.1:${shared.port}/things`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: 'this is not gzip',
  });
  const body = (await response.json()) as { error: { code: string; message: string } };
  t.is(response.status, 400);
  t.deepEqual(body.error, { code: 'MALFORMED_BODY', message: 'the request body could not be decompressed' });
  const good = await fetch(`http://127.0.0.1:${shared.port}/things`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: gzipSync('{"a":1}'),
  });
  t.is(good.status, 201);
});

test('a wrong method on a known path is 405 with Allow; OPTIONS is 204 with Allow; an unknown path stays 404', async (t) => {
  const base = `http://127.0.0.1:${shared.port}`;
  const wrong = await fetch(`${base}/things/1`, { method: 'DELETE' });
  t.is(wrong.status, 405);
  t.is(wrong.headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.is(((await wrong.json()) as { error: { code: string } }).error.code, 'METHOD_NOT_ALLOWED');
  const put = await fetch(`${base}/things`, { method: 'PUT' });
  t.is(put.status, 405);
  t.is(put.headers.get('allow'), 'OPTIONS, POST');
  const options = await fetch(`${base}/things/1`, { method: 'OPTIONS' });
  t.is(options.status, 204);
  t.is(options.headers.get('allow'), 'GET, HEAD, OPTIONS');
  const unknown = await fetch(`${base}/nothing`, { method: 'DELETE' });
  t.is(unknown.status, 404);
  t.is(unknown.headers.get('x-content-type-options'), 'nosniff');
  t.is(unknown.headers.get('cache-control'), 'no-store');
});

test('Allow is read from the routes: methods per matching route with HEAD for GET and OPTIONS, none for an unknown path, undefined for route.all', (t) => {
  const app = express();
  app.get('/a/:id', () => undefined);
  app.put('/a/:id', () => undefined);
  app.post('/a', () => undefined);
  app.route('/any').all(() => undefined);
  t.deepEqual(allowedMethods(app, '/a/1'), ['GET', 'HEAD', 'OPTIONS', 'PUT']);
  t.deepEqual(allowedMethods(app, '/a'), ['OPTIONS', 'POST']);
  t.deepEqual(allowedMethods(app, '/b'), []);
  t.is(allowedMethods(app, '/any'), undefined);
});

test('headers sent a line a second are cut at the header timeout with 408', async (t) => {
  const { port, server } = await serve({ headersTimeoutMs: 1000, requestTimeoutMs: 5000, checkIntervalMs: 200 });
  t.teardown(() => server.close());
  const lines = ['GET /things/1 HTTP/1.1\r\n', ...Array.from({ length: 20 }, (_, i) => `X-Line-${i}: ${i}\r\n`)];
  const answer = await raw(port, lines, 300);
  t.is(answer.status, 408);
  t.is(JSON.parse(answer.body).error.code, 'REQUEST_TIMEOUT');
  t.true(answer.closedAfterMs < 2500, `closed after ${answer.closedAfterMs} ms`);
});

test('the request timeout bounds receiving a request, not the time to answer it', async (t) => {
  const { port, server } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 500, checkIntervalMs: 100 });
  t.teardown(() => server.close());
  const response = await fetch(`http://127.0.0.1:${port}/slow`);
  t.is(response.status, 200);
});
