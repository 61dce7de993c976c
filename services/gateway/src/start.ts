import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  REQUEST_ID_HEADER,
  ServiceMetrics,
  LiveConfig,
  childTraceparent,
  configSettings,
  createLogger,
  logSettings,
  setLogLevel,
  eurekaSettings,
  fromBodyParser,
  eurekaClientFor,
  listen,
  loadServiceConfig,
  packagePath,
  packageVersion,
  requestIdFrom,
} from '@cdc-outbox-saga/platform';
import express from 'express';
import { createProxyMiddleware, type Options as ProxyOptions } from 'http-proxy-middleware';
import { z } from 'zod';
import { Gauge } from 'prom-client';
import { authSettings, authenticate, readPublicKeyFile } from './auth.js';
import { LoadBalancer } from './balancer.js';
import { EurekaDiscovery } from './discovery.js';
import { rateLimit, rateLimitSettings } from './rate-limit.js';

const targetList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((t) => t.trim()).filter(Boolean))
  .pipe(z.array(z.url()));

export const gatewaySettings = z.object({
  service: z.object({ name: z.string(), instanceId: z.string() }),
  http: z.object({
    host: z.string(),
    port: z.coerce.number().int().min(0).max(65535),
    /** Bodies are read whole before proxying (so a refused connection can be retried); larger ones get 413. */
    maxBodyBytes: z.coerce.number().int().positive(),
  }),
  upstream: z.object({
    /** How long a new connection to an instance may take; past it the request goes to the next one. */
    connectTimeoutMs: z.coerce.number().int().positive(),
    /** How long an instance may take to answer once it has the request (covers `Prefer: wait`). */
    timeoutMs: z.coerce.number().int().positive(),
    /** Off only to measure what keep-alive saves (npm run bench), or behind something that cannot keep connections. */
    keepAlive: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
  }),
  outlier: z.object({
    consecutiveFailures: z.coerce.number().int().positive(),
    ejectionMs: z.coerce.number().int().min(0),
  }),
  eureka: eurekaSettings.extend({
    /** How often the gateway reads Eureka's registry into its routing table. */
    registryRefreshMs: z.coerce.number().int().min(100),
  }),
  auth: authSettings,
  /** A token bucket per token subject (per client address for requests without a token). */
  rateLimit: rateLimitSettings,
  log: logSettings,
  config: configSettings,
  routes: z
    .array(
      z.object({
        prefix: z.string().startsWith('/'),
        /** The Eureka application name of the instances behind this route. */
        service: z.string(),
        rewrite: z.string(),
        /** Fixed instances instead of discovery (a gateway run without Eureka). */
        targets: targetList.optional(),
      }),
    )
    .min(1),
});
export type GatewaySettings = z.infer<typeof gatewaySettings>;

export function loadSettings(): Promise<GatewaySettings> {
  return loadServiceConfig(packagePath(import.meta.url, 'config'), gatewaySettings);
}

function sendError(res: ServerResponse | Socket, status: number, code: string, message: string): void {
  if (!('setHeader' in res) || res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ error: { code, message } }));
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

export interface RunningGateway {
  url: string;
  stop(): Promise<void>;
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

/**
 * The gateway: `/api/<resource>` goes to the resource's service with the `/api` prefix taken off,
 * round robin over the service's UP instances as Eureka lists them, over keep-alive connections. An
 * instance that refuses connections or keeps failing is ejected for a while. It adds `X-Request-Id` and
 * `traceparent` when the client sent none, and answers JSON 503 (no instance reachable), 502 (the
 * instance failed mid-request) or 504 (no answer in time). A request that never reached an instance
 * (refused, or no connection in time) goes to the next one; one that did is never sent twice. Bodies are
 * read whole but not parsed: each service validates its own.
 */
export async function start(settings: GatewaySettings): Promise<RunningGateway> {
  // A copy: live settings from the config service change it in place, and the caller's object stays as given.
  settings = structuredClone(settings);
  setLogLevel(settings.log.level);
  const logger = createLogger('gateway', settings.log.level).child({ instance: settings.service.instanceId });
  const metrics = new ServiceMetrics('gateway', settings.service.instanceId);
  const discovery = new EurekaDiscovery(settings.eureka.serviceUrl, settings.eureka.registryRefreshMs, logger);
  const balancers = new Map<string, LoadBalancer>();
  const proxies: Array<ProxyOptions<IncomingMessage, ServerResponse>> = [];
  // Keep-alive to the instances: a TCP handshake per request costs more than the request itself.
  // No cap on connections per instance: a request queued for a socket would have its (already read) body
  // stream ended by http-proxy before the body could be written. The timeout bounds idle kept-alive
  // connections, and makes Node honour the instance's Keep-Alive hint (close a second before it does).
  const agent = new Agent({ keepAlive: settings.upstream.keepAlive, timeout: 60_000, scheduling: 'lifo' });
  const app = express();
  app.disable('x-powered-by');

  app.use((req, res, next) => {
    const requestId = requestIdFrom(req.get(REQUEST_ID_HEADER));
    req.headers[REQUEST_ID_HEADER] = requestId;
    req.headers.traceparent = childTraceparent(req.get('traceparent'));
    res.setHeader(REQUEST_ID_HEADER, requestId);
    next();
  });
  app.use(metrics.httpMiddleware());
  /** Per service, how many instances a request could go to now. */
  const routable = () =>
    Object.fromEntries(
      settings.routes.map((route) => {
        const balancer = balancers.get(route.prefix);
        const listed = route.targets ?? discovery.upInstances(route.service);
        return [route.service, listed.filter((target) => !balancer?.isEjected(target)).length];
      }),
    );
  new Gauge({
    name: 'gateway_upstream_instances',
    help: 'Instances the gateway can route to now, by service (UP in Eureka and not ejected)',
    labelNames: ['service'],
    registers: [metrics.registry],
    collect() {
      for (const [service, count] of Object.entries(routable())) this.set({ service }, count);
    },
  });
  app.get('/health', (_req, res) => {
    // UP while it can serve: with no instance of a service, its requests get a clear 503, not a dead gateway.
    const registryAgeMs = Number.isFinite(discovery.ageMs) ? discovery.ageMs : null;
    res.json({ status: 'UP', instance: settings.service.instanceId, instances: routable(), registryAgeMs, config: config.origin });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  // Every /api request is authenticated and rate limited before its body is read: a verified one per token
  // subject, a refused one (no token, or a bad one) per client address before it gets its 401, so a flood
  // of either is limited too. An address whose bucket refused tokens have emptied gets its 429 before the
  // signature check, which is where a flood of forged tokens would spend the gateway's CPU.
  const limiter = rateLimit(settings.rateLimit);
  app.use((req, res, next) => (req.headers.authorization && limiter.isExhausted(req) ? limiter(req, res, next) : next()));
  app.use(
    authenticate({
      publicKey: readPublicKeyFile(settings.auth.publicKeyFile),
      issuer: settings.auth.issuer,
      audience: settings.auth.audience,
      clockToleranceSeconds: settings.auth.clockToleranceSeconds,
      publicPaths: ['/health', '/metrics'],
      onRefused: (req, res, sendRefusal) => limiter(req, res, sendRefusal),
    }),
  );
  app.use((req, res, next) => (req.auth ? limiter(req, res, next) : next()));
  // Whole bodies, any content type, gzip undone: a request whose connection was refused never reached
  // its instance, and is sent again to the next one from this copy.
  app.use(express.raw({ type: () => true, limit: settings.http.maxBodyBytes }));

  for (const route of settings.routes) {
    const staticTargets = route.targets;
    const balancer = new LoadBalancer(
      staticTargets ? () => staticTargets : () => discovery.upInstances(route.service),
      settings.outlier,
    );
    balancers.set(route.prefix, balancer);
    const attempts = new WeakMap<IncomingMessage, Attempt>();
    const proxyOptions: ProxyOptions<IncomingMessage, ServerResponse> = {
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
          const body = (req as IncomingMessage & { body?: unknown }).body;
          if (!Buffer.isBuffer(body)) return;
          // The body as read (gzip already undone), with headers that say so.
          proxyReq.removeHeader('content-encoding');
          proxyReq.removeHeader('transfer-encoding');
          proxyReq.setHeader('content-length', body.length);
          proxyReq.write(body);
        },
        proxyRes: (_proxyRes, req) => {
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
    proxies.push(proxyOptions);
    const proxy = createProxyMiddleware(proxyOptions);
    app.use(
      route.prefix,
      (req, res, next) => {
        // The metrics' route label: the prefix, the same for every id under it.
        res.locals.route = route.prefix;
        const target = balancer.pick();
        if (!target) {
          sendError(res, 503, 'SERVICE_UNAVAILABLE', `no instance of the ${route.service} service is reachable`);
          return;
        }
        attempts.set(req, { target, path: req.url, tried: new Set([target]) });
        next();
      },
      proxy,
    );
  }
  app.use((req, res) => {
    sendError(res, 404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
  });
  app.use((error: { type?: string; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // Only reading the body can fail here: the same codes as the services give.
    const known = fromBodyParser(error, `${settings.http.maxBodyBytes} bytes`);
    sendError(res, known?.status ?? 400, known?.code ?? 'BAD_REQUEST', known?.message ?? error.message);
  });

  // Live settings: a new commit of the config service changes these without a restart. The timeouts are
  // read per request from `settings.upstream`, the response timeout also from each route's proxy options.
  const config = new LiveConfig(gatewaySettings, settings, { logger, intervalMs: settings.config.refreshMs })
    .on('rateLimit', (s) => limiter.setLimits(s.rateLimit.capacity, s.rateLimit.refillPerSecond))
    .on('upstream.connectTimeoutMs', (s) => {
      settings.upstream.connectTimeoutMs = s.upstream.connectTimeoutMs;
    })
    .on('upstream.timeoutMs', (s) => {
      settings.upstream.timeoutMs = s.upstream.timeoutMs;
      for (const options of proxies) options.proxyTimeout = s.upstream.timeoutMs;
    })
    .start();

  const needsDiscovery = settings.routes.some((route) => !route.targets);
  if (needsDiscovery) await discovery.start();
  const server = await listen(app, settings.http.host, settings.http.port);
  const port = (server.address() as { port: number }).port;
  const url = `http://${settings.http.host}:${port}`;
  const eureka = eurekaClientFor(settings, port, packageVersion(import.meta.url), logger);
  eureka?.start('UP');
  logger.info(
    { url, routes: settings.routes.map((r) => `${r.prefix} -> ${r.targets?.join(' | ') ?? `${r.service} (Eureka)`}`) },
    'gateway started',
  );
  return {
    url,
    async stop() {
      config.stop();
      await eureka?.stop();
      discovery.stop();
      // Requests in flight finish; idle keep-alive connections would hold close() for their timeout.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      agent.destroy();
      limiter.close();
    },
  };
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
