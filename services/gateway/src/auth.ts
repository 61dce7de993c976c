import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { errors, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';

/** The verified caller, as the gateway tells the services. */
export interface AuthContext {
  subject: string;
  scopes: string[];
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `authenticate` once the bearer token verified; absent on public paths. */
    auth?: AuthContext;
  }
}

/** Headers the gateway sets from the verified token; the services trust them because only the gateway reaches them. */
export const AUTH_SUBJECT_HEADER = 'x-auth-subject';
export const AUTH_SCOPES_HEADER = 'x-auth-scopes';

/** The realm of every `WWW-Authenticate` challenge (RFC 6750 section 3). */
export const AUTH_REALM = 'cdc-outbox-saga';

/** The only signature algorithm accepted: `none`, HS* (the public key used as an HMAC secret) and the rest are refused. */
const ALGORITHM = 'ES256';

/** What the gateway's config holds for authentication; `publicKeyFile` is a public JWK in JSON. */
export const authSettings = z.object({
  publicKeyFile: z.string().min(1),
  issuer: z.string().min(1),
  audience: z.string().min(1),
  clockToleranceSeconds: z.coerce.number().int().min(0).default(30),
});
export type AuthSettings = z.infer<typeof authSettings>;

export interface AuthenticateOptions {
  /** The issuer's ES256 (P-256) public key: a CryptoKey, a Node KeyObject, or a public JWK. */
  publicKey: CryptoKey | KeyObject | JWK;
  /** The `iss` every token must carry. */
  issuer: string;
  /** An `aud` every token must carry (one of its values when it is an array). */
  audience: string;
  /** Leeway for `exp`/`nbf` between the issuer's clock and this one; 30 s unless given. */
  clockToleranceSeconds?: number;
  /** Paths (exact `req.path` matches) answered without a token, such as `/health` and `/metrics`. */
  publicPaths?: readonly string[];
  /**
   * Runs before each 401 with a function that sends it, so the caller can count refused requests (against
   * the client address) and answer something else instead, such as a 429.
   */
  onRefused?: (req: Request, res: Response, sendRefusal: () => void) => void;
}

/** Reads a public JWK from a JSON file, as `ensureSigningKey` of compose/local writes it. */
export function readPublicKeyFile(file: string): JWK {
  return JSON.parse(readFileSync(file, 'utf8')) as JWK;
}

/**
 * Refuses at start what could never verify an ES256 signature, or should not be here at all: a secret,
 * a private key, another curve. A misconfigured gateway then fails to start instead of answering 401 to all.
 */
function publicKeyFrom(input: AuthenticateOptions['publicKey']): CryptoKey | KeyObject {
  if (input instanceof Uint8Array) throw new TypeError('authenticate needs an ES256 public key, not a shared secret');
  if (isCryptoKey(input)) {
    const algorithm = input.algorithm as { name?: string; namedCurve?: string };
    if (input.type !== 'public' || algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
      throw new TypeError('authenticate needs an ECDSA P-256 public CryptoKey');
    }
    return input;
  }
  if (isKeyObject(input)) {
    const curve = input.asymmetricKeyDetails?.namedCurve;
    if (input.type !== 'public' || input.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
      throw new TypeError('authenticate needs an EC P-256 public KeyObject');
    }
    return input;
  }
  const jwk = input as JWK;
  if (jwk.d !== undefined) throw new TypeError('authenticate was given a private JWK; give it the public key only');
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new TypeError('authenticate needs an EC P-256 JWK');
  // Imported once, here, so that a malformed JWK fails the start rather than every request.
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
}

/** How jose tells keys apart too: Node's KeyObject and WebCrypto's CryptoKey name themselves. */
function tagOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag];
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return tagOf(value) === 'CryptoKey';
}

function isKeyObject(value: unknown): value is KeyObject {
  return tagOf(value) === 'KeyObject';
}

/** A refusal: the JSON code, and a message that is also the RFC 6750 `error_description`. */
interface Refusal {
  code: 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_WRONG_AUDIENCE';
  message: string;
}

/** Maps what jose threw to a refusal; anything unexpected is an invalid token too, never a pass. */
function refusalFor(error: unknown): Refusal {
  if (error instanceof errors.JWTExpired) return { code: 'TOKEN_EXPIRED', message: 'the token has expired' };
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return { code: 'TOKEN_WRONG_AUDIENCE', message: 'the token is not meant for this API' };
    if (error.claim === 'iss') return { code: 'TOKEN_INVALID', message: 'the token is from an unknown issuer' };
    if (error.claim === 'nbf') return { code: 'TOKEN_INVALID', message: 'the token is not valid yet' };
    if (error.reason === 'missing') return { code: 'TOKEN_INVALID', message: `the token has no ${error.claim} claim` };
    return { code: 'TOKEN_INVALID', message: `the token's ${error.claim} claim is not acceptable` };
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return { code: 'TOKEN_INVALID', message: 'the token signature does not verify' };
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return { code: 'TOKEN_INVALID', message: `the token is not signed with ${ALGORITHM}` };
  }
  return { code: 'TOKEN_INVALID', message: 'the token is malformed' };
}

/** RFC 6749 scope-token: printable ASCII without space, `"` or `\`. Also safe in a header value. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** A subject goes into a header: printable ASCII without spaces keeps it unambiguous and legal there. */
const SUBJECT = /^[\x21-\x7e]{1,256}$/;

function contextFrom(payload: { sub?: unknown; scope?: unknown }): AuthContext | Refusal {
  if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub)) {
    return { code: 'TOKEN_INVALID', message: 'the token sub claim is not a usable subject' };
  }
  if (payload.scope === undefined) return { subject: payload.sub, scopes: [] };
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : undefined;
  if (!scopes?.every((scope) => SCOPE_TOKEN.test(scope))) {
    return { code: 'TOKEN_INVALID', message: 'the token scope claim is not a space-separated list of scopes' };
  }
  return { subject: payload.sub, scopes };
}

function refuse(res: Response, refusal: Refusal): void {
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

/**
 * Express middleware that lets a request through only with a valid `Authorization: Bearer <jwt>`: ES256,
 * signed by `publicKey`, from `issuer`, for `audience`, with `sub` and an unexpired `exp`. On success it sets
 * `req.auth` and the `X-Auth-Subject` / `X-Auth-Scopes` headers the services read; whatever the client sent
 * in those headers is dropped first, on every request, public paths included. Otherwise it answers 401 JSON
 * with an RFC 6750 `WWW-Authenticate` challenge, and the request goes no further.
 */
export function authenticate(options: AuthenticateOptions): RequestHandler {
  const key = publicKeyFrom(options.publicKey);
  const publicPaths = new Set(options.publicPaths ?? []);
  const verifyOptions = {
    algorithms: [ALGORITHM],
    issuer: options.issuer,
    audience: options.audience,
    clockTolerance: options.clockToleranceSeconds ?? 30,
    requiredClaims: ['sub', 'exp'],
  };

  const deny = (req: Request, res: Response, refusal: Refusal) => {
    if (options.onRefused) options.onRefused(req, res, () => refuse(res, refusal));
    else refuse(res, refusal);
  };

  return (req: Request, res: Response, next: NextFunction) => {
    // Only the gateway speaks for the caller: a client cannot name itself by sending these.
    delete req.headers[AUTH_SUBJECT_HEADER];
    delete req.headers[AUTH_SCOPES_HEADER];
    delete req.auth;
    if (publicPaths.has(req.path)) {
      next();
      return;
    }

    const [scheme, ...credentials] = (req.headers.authorization ?? '').trim().split(/[ \t]+/);
    // No header, another scheme (Basic…), or `Bearer` with nothing after it: no credentials were offered.
    if (scheme?.toLowerCase() !== 'bearer' || credentials.length === 0) {
      deny(req, res, { code: 'TOKEN_MISSING', message: 'send a bearer token: Authorization: Bearer <token>' });
      return;
    }
    if (credentials.length > 1) {
      deny(req, res, { code: 'TOKEN_INVALID', message: 'the Authorization header holds more than one token' });
      return;
    }
    jwtVerify(credentials[0]!, key, verifyOptions).then(
      ({ payload }) => {
        const context = contextFrom(payload);
        if ('code' in context) {
          deny(req, res, context);
          return;
        }
        req.auth = context;
        req.headers[AUTH_SUBJECT_HEADER] = context.subject;
        req.headers[AUTH_SCOPES_HEADER] = context.scopes.join(' ');
        next();
      },
      (error: unknown) => deny(req, res, refusalFor(error)),
    );
  };
}
