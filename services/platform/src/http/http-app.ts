import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { checkJsonText, type InputProblem } from './input.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** The caller's request id when it is a sane token, or a new one. */
export function requestIdFrom(incoming: string | undefined): string {
  return incoming && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
}

/** JSON body limit of every service: an order of 100 lines is well under it. */
export const JSON_BODY_LIMIT = '64kb';

declare module 'express-serve-static-core' {
  interface Request {
    requestId: string;
  }
}

/**
 * An Express app with what every service's edge needs: a request id (taken from the gateway's
 * `X-Request-Id` or made here, echoed back), a JSON body parser with a size limit, and JSON errors.
 * Register the routes, then call `finishHttpApp` to add the 404 and error handlers last. `beforeBody` runs
 * before the body is read (authentication: a refused request costs no parsing).
 */
export function createHttpApp(beforeBody: readonly RequestHandler[] = []): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    req.requestId = requestIdFrom(req.get(REQUEST_ID_HEADER));
    res.set(REQUEST_ID_HEADER, req.requestId);
    next();
  });
  for (const handler of beforeBody) app.use(handler);
  // Not strict: a body of `null` or `42` is valid JSON, and validation then says what is wrong with it.
  // `checkJsonText` refuses a body that is not UTF-8 and notes the number literals JSON.parse would hide.
  app.use(express.json({ limit: JSON_BODY_LIMIT, strict: false, type: ['application/json', 'application/*+json'], verify: checkJsonText }));
  return app;
}

function errorBody(error: AppError) {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  };
}

/** The codes zlib gives a body that does not decompress (gzip and deflate `Z_*`, brotli `ERR__*`). */
function isDecompressionError(error: { code?: unknown; errno?: unknown }): boolean {
  return typeof error.errno === 'number' && typeof error.code === 'string' && /^(Z_|ERR__|ERR_BROTLI)/.test(error.code);
}

/**
 * Maps body-parser's errors (bad JSON, too large, wrong charset, a body that does not decompress) to
 * AppErrors with stable codes and messages of their own (never zlib's); `limit` is the body limit as the
 * 413 message should state it. Undefined for anything that is not body-parser's.
 */
export function fromBodyParser(
  error: { type?: string; status?: number; message: string; code?: unknown; errno?: unknown },
  limit: string = JSON_BODY_LIMIT,
): AppError | undefined {
  switch (error.type) {
    case 'entity.parse.failed':
      return new AppError('MALFORMED_JSON', 'the request body is not valid JSON', { status: 400 });
    case 'entity.too.large':
      return new AppError('BODY_TOO_LARGE', `the request body is larger than ${limit}`, { status: 413 });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_ENCODING', error.message, { status: 415 });
    case 'request.aborted':
      return new AppError('REQUEST_ABORTED', 'the client aborted the request', { status: 400 });
    case 'request.size.invalid':
      return new AppError('MALFORMED_BODY', 'the request body is not as long as its Content-Length says', { status: 400 });
    case undefined:
      // body-parser passes the decompressing stream's error on with status 400 and no type.
      return isDecompressionError(error)
        ? new AppError('MALFORMED_BODY', 'the request body could not be decompressed', { status: 400 })
        : undefined;
    default:
      return undefined;
  }
}

/**
 * An AppError for what Express and body-parser throw at a request that cannot be read: body-parser's
 * errors (`fromBodyParser`), a path parameter that does not percent-decode (`/products/%ZZ`: 400
 * MALFORMED_PATH), any other 4xx of theirs as a 400-class BAD_REQUEST without their wording. Undefined for
 * anything else (a fault of ours).
 */
export function fromRequestError(
  error: { type?: string; status?: number; message: string; code?: unknown; errno?: unknown },
  limit: string = JSON_BODY_LIMIT,
): AppError | undefined {
  const known = fromBodyParser(error, limit);
  if (known) return known;
  if (typeof error.status !== 'number' || error.status < 400 || error.status > 499) return undefined;
  // The router's decodeURIComponent of a path parameter: a URIError it gives status 400.
  if (error instanceof URIError)
    return new AppError('MALFORMED_PATH', 'the request path is not valid percent-encoded UTF-8', { status: 400 });
  return new AppError('BAD_REQUEST', 'the request could not be read', { status: error.status });
}

/** The parts of Express's router this reads: its route layers and how each matches a path. */
interface RouteLayer {
  route?: { methods: Record<string, boolean | undefined> };
  match(path: string): unknown;
}

/**
 * The methods the routes of `app` (registered on the app itself) take at `path`, upper case and sorted;
 * empty when no route matches the path, undefined when one takes any method (`app.route(path).all`).
 */
export function allowedMethods(app: Express, path: string): string[] | undefined {
  const methods = new Set<string>();
  for (const layer of (app.router as unknown as { stack: RouteLayer[] }).stack) {
    if (!layer.route) continue;
    let matches: unknown;
    try {
      matches = layer.match(path);
    } catch {
      // A parameter that does not decode: the router itself has answered MALFORMED_PATH before this runs.
      matches = false;
    }
    if (!matches) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (!on) continue;
      if (method === '_all') return undefined;
      methods.add(method.toUpperCase());
    }
  }
  if (methods.size === 0) return [];
  // Express answers HEAD for every GET route, and methodNotAllowed answers OPTIONS: both are served here too.
  if (methods.has('GET')) methods.add('HEAD');
  methods.add('OPTIONS');
  return [...methods].sort();
}

/**
 * For a request no route took: when its path is one a route serves, OPTIONS is answered 204 and any other
 * method 405 METHOD_NOT_ALLOWED, both with `Allow` read from the app's routes (so it never drifts from
 * them). Other requests go on (to the 404). Mount it after every route.
 */
export function methodNotAllowed(app: Express): RequestHandler {
  return (req, res, next) => {
    const allowed = allowedMethods(app, req.path);
    if (!allowed || allowed.length === 0) {
      next();
      return;
    }
    res.setHeader('allow', allowed.join(', '));
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next(
      new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}; allowed: ${allowed.join(', ')}`, { status: 405 }),
    );
  };
}

/** Adds the 405 for a known path, the JSON 404 and the one error handler; call after every route. */
export function finishHttpApp(app: Express, logger: Logger): void {
  app.use(methodNotAllowed(app));
  app.use((req, _res, next) => {
    next(new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`, { status: 404 }));
  });
  const handler: ErrorRequestHandler = (error, req, res, _next) => {
    const appError =
      error instanceof AppError
        ? error
        : (fromRequestError(error) ?? new AppError('INTERNAL', 'internal error', { status: 500, cause: error }));
    if (appError.status >= 500) {
      logger.error({ err: error, requestId: req.requestId, path: req.path }, 'request failed');
    }
    if (res.headersSent) return;
    res.status(appError.status).json(errorBody(appError));
  };
  app.use(handler);
}

/**
 * Parses a request's JSON body with a zod schema; anything that does not match, and any number its text
 * writes with a fraction, an exponent or beyond a safe integer (see `jsonTextProblems`), is a 400 with every
 * problem listed in `details`, before any row is written. Takes the request, not `req.body`: what the
 * source text said is kept on the request.
 */
export function parseBody<T extends z.ZodType>(
  schema: T,
  req: { body?: unknown; jsonTextProblems?: readonly InputProblem[] | undefined },
): z.infer<T> {
  if (req.body === undefined) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send a JSON body with Content-Type: application/json', {
      status: 415,
    });
  }
  const result = schema.safeParse(req.body);
  const problems: InputProblem[] = [
    ...(req.jsonTextProblems ?? []),
    ...(result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }))),
  ];
  if (!result.success || problems.length > 0) {
    throw new AppError('VALIDATION_FAILED', 'the request body is invalid', { status: 400, details: problems });
  }
  return result.data;
}

/**
 * Ids are UUIDs, in lower case from here on: `A…` and `a…` are one id for every rule, lookup and row
 * (randomUUID makes them lower case, and the audit compares them as strings).
 */
export const idSchema = z.uuid({ message: 'must be a UUID' }).toLowerCase();

/** A path parameter as an id (lower case); a malformed one is a 400 INVALID_ID, not a lookup. */
export function parseId(value: unknown, name = 'id'): string {
  const result = idSchema.safeParse(value);
  if (!result.success) {
    throw new AppError('INVALID_ID', `${name} must be a UUID`, { status: 400 });
  }
  return result.data;
}
