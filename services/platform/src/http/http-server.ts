import { createServer, STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { holdContinue } from '../auth/authenticate.js';

/** Headers on every answer of every server here (API, health, metrics, refusals of the parser). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** Time limits of every server; see `createHttpServer`. */
export interface HttpServerTimeouts {
  /** The request line and headers must have arrived within this (a slow-loris is cut here). */
  headersTimeoutMs: number;
  /** The whole request, body included, must have arrived within this. */
  requestTimeoutMs: number;
  /** How often Node checks both timeouts: a connection is cut at most this late. */
  checkIntervalMs: number;
  /** How long an idle kept-alive connection stays open. */
  keepAliveTimeoutMs: number;
}

/** The limits `createHttpServer` applies unless told otherwise. */
export const DEFAULT_TIMEOUTS: Readonly<HttpServerTimeouts> = {
  headersTimeoutMs: 10_000,
  // Bodies are at most 256 KB (the gateway's limit): 30 s asks under 9 KB/s of a client.
  requestTimeoutMs: 30_000,
  checkIntervalMs: 1_000,
  // 65 s, not Node's 5 s: the gateway reuses its connections to the instances, and Node's client closes an
  // idle one a second before the time the server announces, so neither side closes one the other is about to use.
  keepAliveTimeoutMs: 65_000,
};

export interface HttpServerOptions extends Partial<HttpServerTimeouts> {
  /**
   * When a request with `Expect: 100-continue` is told to send its body: `'arrival'` (Node's way: at
   * once), `'authentication'` (`authenticate` sends the 100 once the token verified; the request is marked
   * with `holdContinue`), or `'app'` (the app calls `sendContinue` when its checks have passed). A request
   * refused before that gets its answer and no 100, and Node closes the connection after it (the client
   * may or may not send the body then). `'arrival'` unless given.
   */
  continueAfter?: 'arrival' | 'authentication' | 'app';
}

/** The status, code and message of each parser error that gets an answer; any other parser error is a 400. */
const parserRefusals: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than the server accepts' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, code: 'BODY_TOO_LARGE', message: 'the chunk extensions of the request body are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' },
};
const malformed = { status: 400, code: 'BAD_REQUEST', message: 'the request is not well-formed HTTP/1.1' };

/** A complete HTTP/1.1 answer with a JSON error body that closes the connection, as raw text for a socket. */
export function rawErrorResponse(status: number, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(SECURITY_HEADERS).map(([name, value]) => `${name}: ${value}`),
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * What to write on a socket whose request Node's parser refused (`'clientError'`): the raw answer to a
 * parser error (`HPE_*`) or a timeout, or undefined for a socket error (ECONNRESET and the like: the
 * client is gone, so there is nobody to answer).
 */
export function clientErrorResponse(code: string | undefined): string | undefined {
  const refusal = code === undefined ? undefined : (parserRefusals[code] ?? (code.startsWith('HPE_') ? malformed : undefined));
  return refusal && rawErrorResponse(refusal.status, refusal.code, refusal.message);
}

/** How long a refused socket may stay open while the client reads its answer. */
const LINGER_MS = 2_000;
const answeredSockets = new WeakSet<Duplex>();

function onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // The parser is left in its error state: more bytes from this client bring the same error again.
  if (answeredSockets.has(socket)) return;
  const response = clientErrorResponse(error.code);
  // An answer already begun on this connection (a pipelined request) must not be corrupted by a second one.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (response === undefined || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  answerAndClose(socket, response);
}

function answerAndClose(socket: Duplex, response: string): void {
  answeredSockets.add(socket);
  // end() sends FIN after the answer; destroying at once would reset the connection while the client's
  // unread bytes (the rest of 20 KB of headers) sit in our buffer, and the client could lose the answer.
  socket.end(response);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** The origin-form (`/path?query`) of an absolute-form request target (`http://host:port/path?query`); others as given. */
export function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (!authority) return target;
  const rest = target.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** How many `Host` headers a request carried (Node keeps only the first in `req.headers`). */
export function hostHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') count++;
  return count;
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  res.shouldKeepAlive = false;
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ error: { code, message } }));
}

/**
 * What every request goes through before the app: the security headers set (the app may add to them),
 * a request with no `Host` (HTTP/1.1) or more than one refused with 400, and an absolute-form target
 * rewritten to its path and query, which is what the app routes by (the authority is not ours to act on).
 */
export function edgeOf(app: RequestListener): RequestListener {
  return (req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const hosts = hostHeaderCount(req.rawHeaders);
    if (hosts > 1 || (hosts === 0 && req.httpVersion === '1.1')) {
      refuse(res, 400, 'BAD_REQUEST', hosts > 1 ? 'the request has more than one Host header' : 'the request has no Host header');
      return;
    }
    if (req.url !== undefined) req.url = originForm(req.url);
    app(req, res);
  };
}

/**
 * Sends the `100 Continue` a request with `Expect: 100-continue` is waiting for, unless it has been sent
 * (a server with `continueAfter: 'app'` calls it once its checks before the body have passed).
 */
export function sendContinue(res: ServerResponse): void {
  const state = res as ServerResponse & { _expect_continue?: boolean; _sent100?: boolean };
  if (state._expect_continue && !state._sent100 && !res.headersSent) res.writeContinue();
}

/**
 * An HTTP server for `app` that answers whatever reaches it in JSON, with short timeouts:
 * - Node's parser errors (a bad request line, header, Content-Length, HTTP version, 16 KB of headers) and
 *   a request not in within the timeouts get a JSON 400/431/408 with `Connection: close` (CONNECT a 501);
 * - headers must arrive within 10 s and the whole request within 30 s, checked every second, so a client
 *   sending one header line a second is cut at about 10 s;
 * - an `Expect` other than `100-continue` gets 417, and `continueAfter` says when `100 Continue` is sent;
 * - `edgeOf`: security headers, one Host header, absolute-form targets.
 */
export function createHttpServer(app: RequestListener, options: HttpServerOptions = {}): Server {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options };
  const server = createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      connectionsCheckingInterval: timeouts.checkIntervalMs,
      keepAliveTimeout: timeouts.keepAliveTimeoutMs,
      // edgeOf answers a missing Host itself, in JSON.
      requireHostHeader: false,
    },
    edgeOf(app),
  );
  server.on('clientError', onClientError);
  // Without a listener Node drops a CONNECT without a word; no server here tunnels.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    answerAndClose(socket, rawErrorResponse(501, 'NOT_IMPLEMENTED', 'CONNECT is not supported here'));
  });
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    refuse(res, 417, 'EXPECTATION_FAILED', 'the only expectation this server meets is Expect: 100-continue');
  });
  const continueAfter = options.continueAfter ?? 'arrival';
  if (continueAfter !== 'arrival') {
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (continueAfter === 'authentication') holdContinue(req);
      server.emit('request', req, res);
    });
  }
  return server;
}
