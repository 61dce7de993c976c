import {
  AppError,
  REQUEST_ID_HEADER,
  childTraceparent,
  fromRequestError,
  methodNotAllowed,
  requestIdFrom,
  sendContinue,
  type Logger,
  type ServiceMetrics,
} from '@cdc-outbox-saga/platform';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { authenticate, verifierOptionsFrom } from './auth.js';
import { sendError, type RouteProxy } from './proxy.js';
import type { RateLimiter } from './rate-limit.js';
import type { GatewaySettings } from './settings.js';

/** What the public app is made of; built by `start`. */
export interface GatewayAppParts {
  settings: GatewaySettings;
  logger: Logger;
  metrics: ServiceMetrics;
  limiter: RateLimiter;
  routes: RouteProxy[];
  /** Whether the gateway can serve; its public /health says no more than this. */
  isUp: () => boolean;
}

/**
 * The public app: `/health` (UP or DOWN, nothing else), then every other request authenticated and rate
 * limited before its body is read, then proxied by its route's prefix. Anything else is a JSON 404.
 */
export function gatewayApp({ settings, logger, metrics, limiter, routes, isUp }: GatewayAppParts): Express {
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
    // UP while it can serve: with no instance of a service, its requests get a clear 503, not a dead gateway.
    // Which instances, how old the registry is, which config commit: the management port says.
    const up = isUp();
    res.status(up ? 200 : 503).json({ status: up ? 'UP' : 'DOWN' });
  });
  app.use(methodNotAllowed(app));
  // Every other request is authenticated and rate limited before its body is read: a verified one per token
  // subject, a refused one (no token, or a bad one) per client address before it gets its 401, so a flood
  // of either is limited too. An address whose bucket refused tokens have emptied gets its 429 before the
  // signature check, which is where a flood of forged tokens would spend the gateway's CPU.
  app.use((req, res, next) => (req.headers.authorization && limiter.isExhausted(req) ? limiter(req, res, next) : next()));
  app.use(
    authenticate({
      ...verifierOptionsFrom(settings.auth),
      // Not /metrics: it is on the management port; here it is one more path that needs a token (then 404).
      publicPaths: ['/health'],
      onRefused: (req, res, sendRefusal) => limiter(req, res, sendRefusal),
    }),
  );
  app.use((req, res, next) => (req.auth ? limiter(req, res, next) : next()));
  // Only now may a client that sent `Expect: 100-continue` send its body. The expectation is met here and
  // not passed on: the instance gets the body whole (and Node's client would freeze the headers the proxy
  // still has to change, for a request that expects a 100).
  app.use((req, res, next) => {
    sendContinue(res);
    delete req.headers.expect;
    next();
  });
  // Whole bodies, any content type, gzip undone: a request whose connection was refused never reached
  // its instance, and is sent again to the next one from this copy.
  app.use(express.raw({ type: () => true, limit: settings.http.maxBodyBytes }));

  for (const { route, handlers } of routes) app.use(route.prefix, ...handlers);
  app.use((req, res) => {
    sendError(res, 404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
  });
  app.use((error: Error, req: Request, res: Response, _next: NextFunction) => {
    // Reading the body or the path: the same codes and messages as the services give.
    const known = error instanceof AppError ? error : fromRequestError(error, `${settings.http.maxBodyBytes} bytes`);
    if (!known) logger.error({ err: error, path: req.path, requestId: req.headers[REQUEST_ID_HEADER] }, 'request failed');
    sendError(res, known?.status ?? 500, known?.code ?? 'INTERNAL', known?.message ?? 'internal error');
  });
  return app;
}
