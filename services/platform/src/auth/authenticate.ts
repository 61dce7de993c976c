import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../errors.js';
import { TokenVerifier, tokenRefusal, type AuthContext, type TokenVerifierOptions } from './token-verifier.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The caller, set by `authenticate` once the bearer token verified; absent on public paths. */
    auth?: AuthContext;
  }
}

/** The realm of every `WWW-Authenticate` challenge (RFC 6750 section 3). */
export const AUTH_REALM = 'cdc-outbox-saga';

export interface AuthenticateOptions extends TokenVerifierOptions {
  /** Paths (exact `req.path` matches) a GET or HEAD reaches without a token, such as `/health` and `/metrics`. */
  publicPaths?: readonly string[];
  /**
   * Runs before each 401 with a function that sends it, so the caller can count refused requests (against
   * the client address) and answer something else instead, such as a 429.
   */
  onRefused?: (req: Request, res: Response, sendRefusal: () => void) => void;
}

/**
 * Requests whose `100 Continue` the server held back (a `'checkContinue'` listener that marks them with
 * `holdContinue` and hands them on as requests): `authenticate` sends it once the request may go on, so a
 * client without a valid token gets its 401 and never a 100.
 */
const continueHeld = new WeakSet<IncomingMessage>();

/** Marks a request whose `Expect: 100-continue` the server has not answered: `authenticate` answers it. */
export function holdContinue(req: IncomingMessage): void {
  continueHeld.add(req);
}

function releaseContinue(req: IncomingMessage, res: ServerResponse): void {
  if (continueHeld.delete(req)) res.writeContinue();
}

/** Sends a 401 for a refused token: JSON `{error:{code,message}}` and an RFC 6750 challenge. */
export function sendTokenRefusal(res: Response, refusal: AppError): void {
  // RFC 6750 section 3: error_description allows %x20-21 / %x23-5B / %x5D-7E, so no quote or backslash.
  const description = refusal.message.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
  // RFC 6750 section 3.1: a request without credentials gets the bare challenge, no error attribute.
  res.setHeader(
    'www-authenticate',
    refusal.code === 'TOKEN_MISSING'
      ? `Bearer realm="${AUTH_REALM}"`
      : `Bearer realm="${AUTH_REALM}", error="invalid_token", error_description="${description}"`,
  );
  res.status(401).json({ error: { code: refusal.code, message: refusal.message } });
}

/** The token of an `Authorization: Bearer <token>` header, or the refusal of what was sent instead. */
function bearerToken(header: string | undefined): string | AppError {
  const [scheme, ...credentials] = (header ?? '').trim().split(/[ \t]+/);
  // No header, another scheme (Basic…), or `Bearer` with nothing after it: no credentials were offered.
  if (scheme?.toLowerCase() !== 'bearer' || credentials.length === 0) {
    return tokenRefusal('TOKEN_MISSING', 'send a bearer token: Authorization: Bearer <token>');
  }
  if (credentials.length > 1) return tokenRefusal('TOKEN_INVALID', 'the Authorization header holds more than one token');
  return credentials[0]!;
}

/**
 * Express middleware that lets a request through only with a valid `Authorization: Bearer <jwt>` (see
 * `TokenVerifier` for what valid means), and sets `req.auth` to the caller the token names: the only
 * source of a caller's identity, at the gateway and in every service. GET and HEAD of `publicPaths` pass
 * without a token. Anything else gets 401 JSON with an RFC 6750 `WWW-Authenticate` challenge, and the
 * request goes no further. The Authorization header itself is left as it came (the gateway forwards it).
 */
export function authenticate(options: AuthenticateOptions): RequestHandler {
  const verifier = new TokenVerifier(options);
  const publicPaths = new Set(options.publicPaths ?? []);

  const deny = (req: Request, res: Response, refusal: AppError) => {
    if (options.onRefused) options.onRefused(req, res, () => sendTokenRefusal(res, refusal));
    else sendTokenRefusal(res, refusal);
  };
  const pass = (req: Request, res: Response, next: NextFunction, caller?: AuthContext) => {
    if (caller) req.auth = caller;
    releaseContinue(req, res);
    next();
  };

  return (req: Request, res: Response, next: NextFunction) => {
    delete req.auth;
    if ((req.method === 'GET' || req.method === 'HEAD') && publicPaths.has(req.path)) {
      pass(req, res, next);
      return;
    }
    const token = bearerToken(req.headers.authorization);
    if (token instanceof AppError) {
      deny(req, res, token);
      return;
    }
    // A token verified before goes on at once, without a trip through the event loop.
    const remembered = verifier.remembered(token);
    if (remembered) {
      pass(req, res, next, remembered);
      return;
    }
    verifier.verify(token).then(
      (caller) => pass(req, res, next, caller),
      (error: unknown) => deny(req, res, error instanceof AppError ? error : tokenRefusal('TOKEN_INVALID', 'the token is malformed')),
    );
  };
}
