import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { REQUEST_ID_HEADER, SECURITY_HEADERS, type Logger } from '@cdc-outbox-saga/platform';
import type { RequestHandler } from 'express';
import { createProxyMiddleware, type Options as ProxyOptions } from 'http-proxy-middleware';
import { LoadBalancer } from './balancer.js';
import type { EurekaDiscovery } from './discovery.js';
import type { GatewaySettings } from './settings.js';

type Route = GatewaySettings['routes'][number];

/** A JSON error answer; on a socket (an upgrade) or an answer already begun there is nothing to say, so it is closed. */
export function sendError(res: ServerResponse | Socket, status: number, code: string, message: string): void {
  if (!('setHeader' in res) || res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ error: { code, message } }));
}

/**
 * Headers that concern one connection only (RFC 9110 section 7.6.1), never passed on by a proxy in either
 * direction, with `Proxy-Connection`, `Keep-Alive` and `Trailer` of the older specs.
 */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'trailer',
];

/**
 * Headers a `Connection` value may name but never remove: `Host` (a request without one is refused
 * upstream), and those the gateway sets itself for the instance (the request id and trace that tie its log
 * lines to the service's, and the forwarded client address).
 */
const KEPT_HEADERS = new Set([
  'host',
  'x-request-id',
  'traceparent',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-proto',
]);

/**
 * The headers a proxy drops from a message whose `Connection` header is `connection`: the hop-by-hop
 * ones, and every header that `Connection` names (lower case), but for the KEPT_HEADERS.
 */
export function hopByHopHeaders(connection: string | string[] | undefined): Set<string> {
  const names = new Set(HOP_BY_HOP);
  for (const value of [connection ?? []].flat()) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (name && !KEPT_HEADERS.has(name)) names.add(name);
    }
  }
  return names;
}

/** What the gateway remembers of a request while it is being proxied. */
interface Attempt {
  target: string;
  /** The path after Express cut the route prefix, before the proxy rewrote it. */
  path: string;
  tried: Set<string>;
  /** Whether the instance had begun to answer. */
  answered?: boolean;
  /** Whether the response timeout ended it: the instance has the request, and is not sent another. */
  timedOut?: boolean;
}

/** Our code for a connection that was not made within `connectTimeoutMs`: like a refusal, it never reached the instance. */
const CONNECT_TIMEOUT = 'ECONNECTTIMEOUT';
const neverReached = new Set(['ECONNREFUSED', 'EHOSTUNREACH', CONNECT_TIMEOUT]);
/**
 * What a connection gives when the instance closed it, or died, as the request went out: a kept-alive one
 * it had just closed, or a new one its kernel accepted while the process was being killed. The instance
 * may or may not have read the request, so only an idempotent one (RFC 9110 section 9.2.2) with no answer
 * begun is sent again, as nginx's proxy_next_upstream and Envoy's retry on reset do.
 */
const staleConnection = new Set(['ECONNRESET', 'EPIPE']);
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** What a route's proxy shares with the rest of the gateway. */
export interface ProxyContext {
  /** The gateway's settings object; `upstream` is read per request, so live changes apply. */
  settings: GatewaySettings;
  agent: Agent;
  discovery: EurekaDiscovery;
  logger: Logger;
}

/** One route's proxy: its balancer, its options (kept for live timeout changes) and its handlers. */
export interface RouteProxy {
  route: Route;
  balancer: LoadBalancer;
  options: ProxyOptions<IncomingMessage, ServerResponse>;
  /** Mount under `route.prefix`. */
  handlers: RequestHandler[];
}

/**
 * The proxy of one route: round robin over the service's instances (fixed, or UP in Eureka and not
 * ejected), retrying on the next instance what never reached one (and an idempotent request whose
 * kept-alive connection was reset before any answer), with hop-by-hop headers dropped both ways.
 */
export function routeProxy(route: Route, { settings, agent, discovery, logger }: ProxyContext): RouteProxy {
  const staticTargets = route.targets;
  const balancer = new LoadBalancer(staticTargets ? () => staticTargets : () => discovery.upInstances(route.service), settings.outlier);
  const attempts = new WeakMap<IncomingMessage, Attempt>();
  const options: ProxyOptions<IncomingMessage, ServerResponse> = {
    router: (req) => attempts.get(req)!.target,
    agent,
    // Mounted under the prefix, Express has already cut it off: /api/orders/42 arrives as /42.
    pathRewrite: (path) => `${route.rewrite}${path === '/' ? '' : path}`,
    // Only the upstream side times out; the client's socket is the client's business.
    proxyTimeout: settings.upstream.timeoutMs,
    xfwd: true,
    on: {
      proxyReq: (proxyReq, req) => {
        const attempt = attempts.get(req);
        if (attempt) {
          attempt.timedOut = false;
          // http-proxy aborts on proxyTimeout with a bare "socket hang up", like a dropped connection.
          proxyReq.once('timeout', () => {
            attempt.timedOut = true;
          });
        }
        limitConnectTime(proxyReq, settings.upstream.connectTimeoutMs);
        // Node's agent sets its own Connection (keep-alive) once the client's is gone.
        for (const name of hopByHopHeaders(req.headers.connection)) proxyReq.removeHeader(name);
        const body = (req as IncomingMessage & { body?: unknown }).body;
        if (!Buffer.isBuffer(body)) return;
        // The body as read (gzip already undone), with headers that say so.
        proxyReq.removeHeader('content-encoding');
        proxyReq.setHeader('content-length', body.length);
        proxyReq.write(body);
      },
      proxyRes: (proxyRes, req, res) => {
        for (const name of hopByHopHeaders(proxyRes.headers.connection)) delete proxyRes.headers[name];
        // http-proxy then copies a Connection header onto the answer (the client's own, when there is one):
        // give it the one this connection has.
        proxyRes.headers.connection = req.headers.connection = res.shouldKeepAlive ? 'keep-alive' : 'close';
        Object.assign(proxyRes.headers, SECURITY_HEADERS);
        const attempt = attempts.get(req);
        if (!attempt) return;
        attempt.answered = true;
        balancer.succeeded(attempt.target);
      },
      error: (error, req, res) => {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        const attempt = attempts.get(req);
        logger.warn({ code, target: attempt?.target, path: req.url, requestId: req.headers[REQUEST_ID_HEADER] }, 'upstream failed');
        if (attempt) balancer.failed(attempt.target, neverReached.has(code));
        const retriable =
          neverReached.has(code) ||
          (staleConnection.has(code) &&
            attempt !== undefined &&
            !attempt.answered &&
            !attempt.timedOut &&
            idempotentMethods.has(req.method ?? ''));
        if (retriable) {
          // It never reached the instance, so another one may take it, whatever the method; or it is
          // idempotent and its connection was reset before any answer.
          const next = attempt && balancer.pick(attempt.tried);
          if (attempt && next && 'setHeader' in res && !res.headersSent) {
            attempt.tried.add(next);
            attempt.target = next;
            req.url = attempt.path;
            void proxy(req, res);
            return;
          }
          if (neverReached.has(code)) sendError(res, 503, 'SERVICE_UNAVAILABLE', `the ${route.service} service is not reachable`);
          else sendError(res, 502, 'BAD_GATEWAY', `the ${route.service} service failed to answer`);
        } else if (attempt?.timedOut) {
          sendError(res, 504, 'GATEWAY_TIMEOUT', `the ${route.service} service did not answer within ${settings.upstream.timeoutMs} ms`);
        } else {
          sendError(res, 502, 'BAD_GATEWAY', `the ${route.service} service failed to answer`);
        }
      },
    },
  };
  // http-proxy-middleware keeps this object and copies it per request: a new timeout applies to the next one.
  const proxy = createProxyMiddleware(options);
  const pickInstance: RequestHandler = (req, res, next) => {
    // The metrics' route label: the prefix, the same for every id under it.
    res.locals.route = route.prefix;
    const target = balancer.pick();
    if (!target) {
      sendError(res, 503, 'SERVICE_UNAVAILABLE', `no instance of the ${route.service} service is reachable`);
      return;
    }
    attempts.set(req, { target, path: req.url, tried: new Set([target]) });
    next();
  };
  return { route, balancer, options, handlers: [pickInstance, proxy] };
}

/**
 * Fails the upstream request with CONNECT_TIMEOUT when a new connection is not up within `ms` (a
 * reused keep-alive connection is already up). Separate from the response timeout, which has to be
 * long enough for `Prefer: wait`, while a connection that takes long will most likely never come.
 */
function limitConnectTime(proxyReq: ClientRequest, ms: number): void {
  proxyReq.once('socket', (socket: Socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => {
      proxyReq.destroy(Object.assign(new Error(`no connection within ${ms} ms`), { code: CONNECT_TIMEOUT }));
    }, ms);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
}
