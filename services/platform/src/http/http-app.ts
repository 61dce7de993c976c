import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Express } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';

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
 * Register the routes, then call `finishHttpApp` to add the 404 and error handlers last.
 */
export function createHttpApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    req.requestId = requestIdFrom(req.get(REQUEST_ID_HEADER));
    res.set(REQUEST_ID_HEADER, req.requestId);
    next();
  });
  // Not strict: a body of `null` or `42` is valid JSON, and validation then says what is wrong with it.
  app.use(express.json({ limit: JSON_BODY_LIMIT, strict: false, type: ['application/json', 'application/*+json'] }));
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

/**
 * Maps body-parser's errors (bad JSON, too large, wrong charset) to AppErrors with stable codes; `limit` is
 * the body limit as the 413 message should state it. Undefined for anything that is not body-parser's.
 */
export function fromBodyParser(
  error: { type?: string; status?: number; message: string },
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
    default:
      return undefined;
  }
}

/** Adds the JSON 404 and the one error handler; call after every route. */
export function finishHttpApp(app: Express, logger: Logger): void {
  app.use((req, _res, next) => {
    next(new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`, { status: 404 }));
  });
  const handler: ErrorRequestHandler = (error, req, res, _next) => {
    const appError =
      error instanceof AppError
        ? error
        : (fromBodyParser(error) ?? new AppError('INTERNAL', 'internal error', { status: 500, cause: error }));
    if (appError.status >= 500) {
      logger.error({ err: error, requestId: req.requestId, path: req.path }, 'request failed');
    }
    if (res.headersSent) return;
    res.status(appError.status).json(errorBody(appError));
  };
  app.use(handler);
}

/**
 * Parses a request body with a zod schema; anything that does not match is a 400 with every problem
 * listed in `details`, before any row is written.
 */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === undefined) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send a JSON body with Content-Type: application/json', {
      status: 415,
    });
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    throw new AppError('VALIDATION_FAILED', 'the request body is invalid', {
      status: 400,
      details: result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    });
  }
  return result.data;
}




/** Ids are UUIDs; a malformed one is a 400, not a lookup. */
export const idSchema = z.uuid({ message: 'must be a UUID' });

export function parseId(value: unknown, name = 'id'): string {
  const result = idSchema.safeParse(value);
  if (!result.success) {
    throw new AppError('INVALID_ID', `${name} must be a UUID`, { status: 400 });
  }
  return result.data;
}
