import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  REQUEST_ID_HEADER,
  ServiceMetrics,
  childTraceparent,
  createLogger,
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
  http: z.object({ host: z.string(), port: z.coerce.number().int().min(0).max(65535) }),
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

export interface RunningGateway {
  url: string;
  stop(): Promise<void>;
}

/**
 * The gateway: `/api/<resource>` goes to the resource's service with the `/api` prefix taken off,
 * round robin over its instances. It adds `X-Request-Id` and `traceparent` when the client sent none,
 * and answers JSON 503 (no instance reachable), 502 (the instance failed mid-request) or 504 (no answer
 * in time). Bodies are streamed, not parsed: each service validates its own.
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

  for (const route of settings.routes) {
    const balancer = new RoundRobin(route.targets, settings.upstream.retryDownAfterMs);
    const chosen = new WeakMap<IncomingMessage, { target: string; sentAt: number }>();
    app.use(
      route.prefix,
      (req, res, next) => {
        const target = balancer.pick();
        if (!target) {
          sendError(res, 503, 'SERVICE_UNAVAILABLE', `no instance of the ${route.service} service is reachable`);
          return;
        }
        chosen.set(req, { target, sentAt: Date.now() });
        next();
      },
      createProxyMiddleware<IncomingMessage, ServerResponse>({
        router: (req) => chosen.get(req)!.target,
        // Mounted under the prefix, Express has already cut it off: /api/orders/42 arrives as /42.
        pathRewrite: (path) => `${route.rewrite}${path === '/' ? '' : path}`,
        // Only the upstream side times out; the client's socket is the client's business.
        proxyTimeout: settings.upstream.timeoutMs,
        xfwd: true,
        on: {
          error: (error, req, res) => {
            const code = (error as NodeJS.ErrnoException).code;
            const sent = chosen.get(req);
            logger.warn({ code, target: sent?.target, path: req.url, requestId: req.headers[REQUEST_ID_HEADER] }, 'upstream failed');
            if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH') {
              if (sent) balancer.markDown(sent.target);
              sendError(res, 503, 'SERVICE_UNAVAILABLE', `the ${route.service} service is not reachable`);
            } else if (sent && Date.now() - sent.sentAt >= settings.upstream.timeoutMs) {
              // http-proxy aborts the upstream request when proxyTimeout passes; the error says only "socket hang up".
              sendError(res, 504, 'GATEWAY_TIMEOUT', `the ${route.service} service did not answer within ${settings.upstream.timeoutMs} ms`);
            } else {
              sendError(res, 502, 'BAD_GATEWAY', `the ${route.service} service failed to answer`);
            }
          },
        },
      }),
    );
  }
  app.use((req, res) => {
    sendError(res, 404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
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
