import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  REQUEST_ID_HEADER,
  ServiceMetrics,
  childTraceparent,
  createLogger,
  fromBodyParser,
  loadServiceConfig,
  packagePath,
  requestIdFrom,
} from '@cdc-outbox-saga/platform';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { z } from 'zod';
import { RoundRobin } from './balancer.js';

const targetList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((t) => t.trim()).filter(Boolean))
  .pipe(z.array(z.url()).min(1));

export const gatewaySettings = z.object({
  service: z.object({ name: z.string(), instanceId: z.string() }),
  http: z.object({
    host: z.string(),
    port: z.coerce.number().int().min(0).max(65535),
    /** Bodies are read whole before proxying (so a refused connection can be retried); larger ones get 413. */
    maxBodyBytes: z.coerce.number().int().positive(),
  }),
  upstream: z.object({
    timeoutMs: z.coerce.number().int().positive(),
    retryDownAfterMs: z.coerce.number().int().min(0),
  }),
  routes: z
    .array(z.object({ prefix: z.string().startsWith('/'), service: z.string(), rewrite: z.string(), targets: targetList }))
    .min(1),
});
export type GatewaySettings = z.infer<typeof gatewaySettings>;

export async function loadSettings(): Promise<GatewaySettings> {
  const settings = await loadServiceConfig(packagePath(import.meta.url, 'config'), gatewaySettings);
  // ORDER_TARGETS=http://127.0.0.1:3001,http://127.0.0.1:3011 and so on, set by `npm start` for N instances.
  for (const route of settings.routes) {
    const fromEnv = process.env[`${route.service.toUpperCase()}_TARGETS`];
    if (fromEnv) route.targets = targetList.parse(fromEnv);
  }
  return settings;
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
  sentAt: number;
  /** The path after Express cut the route prefix, before the proxy rewrote it. */
  path: string;
  tried: Set<string>;
}

export interface RunningGateway {
  url: string;
  stop(): Promise<void>;
}

/**
 * The gateway: `/api/<resource>` goes to the resource's service with the `/api` prefix taken off,
 * round robin over its instances. It adds `X-Request-Id` and `traceparent` when the client sent none,
 * and answers JSON 503 (no instance reachable), 502 (the instance failed mid-request) or 504 (no answer
 * in time). A request refused by one instance goes to the next (it never reached the first). Bodies are
 * read whole but not parsed: each service validates its own.
 */
export async function start(settings: GatewaySettings): Promise<RunningGateway> {
  const logger = createLogger('gateway').child({ instance: settings.service.instanceId });
  const metrics = new ServiceMetrics('gateway', settings.service.instanceId);
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
  app.get('/health', (_req, res) => {
    res.json({ status: 'UP' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  // Whole bodies, any content type, gzip undone: a request whose connection was refused never reached
  // its instance, and is sent again to the next one from this copy.
  app.use(express.raw({ type: () => true, limit: settings.http.maxBodyBytes }));

  for (const route of settings.routes) {
    const balancer = new RoundRobin(route.targets, settings.upstream.retryDownAfterMs);
    const attempts = new WeakMap<IncomingMessage, Attempt>();
    const proxy = createProxyMiddleware<IncomingMessage, ServerResponse>({
      router: (req) => attempts.get(req)!.target,
      // Mounted under the prefix, Express has already cut it off: /api/orders/42 arrives as /42.
      pathRewrite: (path) => `${route.rewrite}${path === '/' ? '' : path}`,
      // Only the upstream side times out; the client's socket is the client's business.
      proxyTimeout: settings.upstream.timeoutMs,
      xfwd: true,
      on: {
        proxyReq: (proxyReq, req) => {
          const body = (req as IncomingMessage & { body?: unknown }).body;
          if (!Buffer.isBuffer(body)) return;
          // The body as read (gzip already undone), with headers that say so.
          proxyReq.removeHeader('content-encoding');
          proxyReq.removeHeader('transfer-encoding');
          proxyReq.setHeader('content-length', body.length);
          proxyReq.write(body);
        },
        error: (error, req, res) => {
          const code = (error as NodeJS.ErrnoException).code;
          const attempt = attempts.get(req);
          logger.warn({ code, target: attempt?.target, path: req.url, requestId: req.headers[REQUEST_ID_HEADER] }, 'upstream failed');
          if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH') {
            if (attempt) {
              balancer.markDown(attempt.target);
              // Refused: the instance never saw the request, so another one may take it, whatever the method.
              const next = balancer.pick();
              if (next && !attempt.tried.has(next) && 'setHeader' in res && !res.headersSent) {
                attempt.tried.add(next);
                attempt.target = next;
                attempt.sentAt = Date.now();
                req.url = attempt.path;
                void proxy(req, res);
                return;
              }
            }
            sendError(res, 503, 'SERVICE_UNAVAILABLE', `the ${route.service} service is not reachable`);
          } else if (attempt && Date.now() - attempt.sentAt >= settings.upstream.timeoutMs) {
            // http-proxy aborts the upstream request when proxyTimeout passes; the error says only "socket hang up".
            sendError(res, 504, 'GATEWAY_TIMEOUT', `the ${route.service} service did not answer within ${settings.upstream.timeoutMs} ms`);
          } else {
            sendError(res, 502, 'BAD_GATEWAY', `the ${route.service} service failed to answer`);
          }
        },
      },
    });
    app.use(
      route.prefix,
      (req, res, next) => {
        const target = balancer.pick();
        if (!target) {
          sendError(res, 503, 'SERVICE_UNAVAILABLE', `no instance of the ${route.service} service is reachable`);
          return;
        }
        attempts.set(req, { target, sentAt: Date.now(), path: req.url, tried: new Set([target]) });
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

  const server = app.listen(settings.http.port, settings.http.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.http.port;
  const url = `http://${settings.http.host}:${port}`;
  logger.info({ url, routes: settings.routes.map((r) => `${r.prefix} -> ${r.targets.join(' | ')}`) }, 'gateway started');
  return {
    url,
    async stop() {
      // Requests in flight finish; idle keep-alive connections (the gateway's) would hold close() for 5 s.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    },
  };
}
