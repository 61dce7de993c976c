import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { AppError } from '../errors.js';
import type { AuthSettings } from '../runtime/service-config.js';
import { VerifiedTokens } from './verified-tokens.js';

/** The verified caller: who the token names, and what it may do. Frozen: cached callers are shared by requests. */
export interface AuthContext {
  readonly subject: string;
  readonly scopes: readonly string[];
}

/** The codes of a refused token (401), as both the gateway and the services answer them. */
export type TokenRefusalCode = 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_WRONG_AUDIENCE';

/** The only signature algorithm accepted: `none`, HS* (the public key used as an HMAC secret) and the rest are refused. */
const ALGORITHM = 'ES256';
/** The longest lifetime (`exp - iat`) accepted unless `maxLifetimeSeconds` says otherwise: a day. */
export const DEFAULT_MAX_LIFETIME_SECONDS = 86_400;
/** Verified tokens remembered unless `cacheMaxEntries` says otherwise. */
export const DEFAULT_CACHE_ENTRIES = 10_000;
/** Longer tokens are verified every time but not remembered: the cache's memory stays bounded by count times this. */
const MAX_CACHED_TOKEN_LENGTH = 4096;

export interface TokenVerifierOptions {
  /** The issuer's ES256 (P-256) public key: a CryptoKey, a Node KeyObject, or a public JWK. */
  publicKey: CryptoKey | KeyObject | JWK;
  /** The `iss` every token must carry. */
  issuer: string;
  /** An `aud` every token must carry (one of its values when it is an array). */
  audience: string;
  /** Leeway for `exp`, `nbf` and `iat` between the issuer's clock and this one; 30 s unless given. */
  clockToleranceSeconds?: number;
  /** The longest `exp - iat` accepted; `DEFAULT_MAX_LIFETIME_SECONDS` (24 h) unless given. */
  maxLifetimeSeconds?: number;
  /** How many verified tokens are remembered; `DEFAULT_CACHE_ENTRIES` unless given, 0 for none. */
  cacheMaxEntries?: number;
  /** The clock, in milliseconds since the epoch (tests move it); `Date.now` unless given. */
  now?: () => number;
}

/** A refusal as the one error type: status 401, a `TOKEN_*` code, a message fit for a `WWW-Authenticate` header. */
export function tokenRefusal(code: TokenRefusalCode, message: string): AppError {
  return new AppError(code, message, { status: 401 });
}

/** Reads a public JWK from a JSON file, as `ensureSigningKey` of compose/local writes it. */
export function readPublicKeyFile(file: string): JWK {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } catch (error) {
    throw new AppError('INVALID_CONFIG', `the token public key ${file} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

/** A verifier's options from the `auth` settings of a service or the gateway (reads the key file now). */
export function verifierOptionsFrom(settings: AuthSettings): TokenVerifierOptions {
  return {
    publicKey: readPublicKeyFile(settings.publicKeyFile),
    issuer: settings.issuer,
    audience: settings.audience,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    maxLifetimeSeconds: settings.maxLifetimeSeconds,
  };
}

/**
 * Refuses at start what could never verify an ES256 signature, or should not be here at all: a secret,
 * a private key, another curve. A misconfigured process then fails to start instead of answering 401 to all.
 */
function publicKeyFrom(input: TokenVerifierOptions['publicKey']): CryptoKey | KeyObject {
  if (input instanceof Uint8Array) throw new TypeError('token verification needs an ES256 public key, not a shared secret');
  if (isCryptoKey(input)) {
    const algorithm = input.algorithm as { name?: string; namedCurve?: string };
    if (input.type !== 'public' || algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
      throw new TypeError('token verification needs an ECDSA P-256 public CryptoKey');
    }
    return input;
  }
  if (isKeyObject(input)) {
    const curve = input.asymmetricKeyDetails?.namedCurve;
    if (input.type !== 'public' || input.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
      throw new TypeError('token verification needs an EC P-256 public KeyObject');
    }
    return input;
  }
  const jwk = input as JWK;
  if (jwk.d !== undefined) throw new TypeError('token verification was given a private JWK; give it the public key only');
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new TypeError('token verification needs an EC P-256 JWK');
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

/** Maps what jose threw to a refusal; anything unexpected is an invalid token too, never a pass. */
function refusalFor(error: unknown): AppError {
  if (error instanceof errors.JWTExpired) return tokenRefusal('TOKEN_EXPIRED', 'the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return tokenRefusal('TOKEN_WRONG_AUDIENCE', 'the token is not meant for this API');
    if (error.claim === 'iss') return tokenRefusal('TOKEN_INVALID', 'the token is from an unknown issuer');
    if (error.claim === 'nbf') return tokenRefusal('TOKEN_INVALID', 'the token is not valid yet');
    if (error.reason === 'missing') return tokenRefusal('TOKEN_INVALID', `the token has no ${error.claim} claim`);
    return tokenRefusal('TOKEN_INVALID', `the token's ${error.claim} claim is not acceptable`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return tokenRefusal('TOKEN_INVALID', 'the token signature does not verify');
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return tokenRefusal('TOKEN_INVALID', `the token is not signed with ${ALGORITHM}`);
  }
  return tokenRefusal('TOKEN_INVALID', 'the token is malformed');
}

/**
 * One scope as RFC 6749 (3.3) defines a scope-token: printable ASCII without space, `"` or `\`. This is
 * the rule's source; compose/local's dev-token.ts holds a copy (it cannot import the platform, whose tests
 * depend on it), and test/unit/token-verifier.test.ts fails when the copy differs.
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** Printable ASCII without spaces: a subject is logged, stored with orders and keys rate limits, unambiguously. */
const SUBJECT = /^[\x21-\x7e]{1,256}$/;

function callerFrom(payload: JWTPayload): AuthContext {
  if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub)) {
    throw tokenRefusal('TOKEN_INVALID', 'the token sub claim is not a usable subject');
  }
  const scope = payload.scope;
  const scopes = scope === undefined ? [] : typeof scope === 'string' ? scope.split(' ').filter(Boolean) : undefined;
  if (!scopes?.every((one) => SCOPE_TOKEN.test(one))) {
    throw tokenRefusal('TOKEN_INVALID', 'the token scope claim is not a space-separated list of scopes');
  }
  return Object.freeze({ subject: payload.sub, scopes: Object.freeze(scopes) });
}

/**
 * Verifies bearer tokens: ES256 signed by `publicKey`, from `issuer`, for `audience`, with `sub`, `exp` and
 * `iat`; `exp` not past and `nbf` reached (within the clock tolerance); `iat` not in the future beyond the
 * tolerance; and a lifetime `exp - iat` of at most `maxLifetimeSeconds`. A verified token is remembered
 * until its `exp` (see `VerifiedTokens`), so the same token again costs next to nothing.
 */
export class TokenVerifier {
  /** The verified tokens remembered. */
  readonly cache: VerifiedTokens;
  private readonly key: CryptoKey | KeyObject;
  private readonly tolerance: number;
  private readonly maxLifetime: number;
  private readonly now: () => number;
  private readonly verifyOptions: {
    algorithms: string[];
    issuer: string;
    audience: string;
    clockTolerance: number;
    requiredClaims: string[];
  };

  constructor(options: TokenVerifierOptions) {
    this.key = publicKeyFrom(options.publicKey);
    this.tolerance = options.clockToleranceSeconds ?? 30;
    this.maxLifetime = options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
    if (!Number.isInteger(this.tolerance) || this.tolerance < 0)
      throw new TypeError(`clockToleranceSeconds must be a whole number >= 0, got ${this.tolerance}`);
    if (!Number.isInteger(this.maxLifetime) || this.maxLifetime < 1)
      throw new TypeError(`maxLifetimeSeconds must be a whole number >= 1, got ${this.maxLifetime}`);
    this.now = options.now ?? Date.now;
    this.cache = new VerifiedTokens(options.cacheMaxEntries ?? DEFAULT_CACHE_ENTRIES);
    this.verifyOptions = {
      algorithms: [ALGORITHM],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: this.tolerance,
      requiredClaims: ['sub', 'exp', 'iat'],
    };
  }

  /** The caller of a token verified before and not expired since; undefined otherwise (then call `verify`). */
  remembered(token: string): AuthContext | undefined {
    return this.cache.get(token, Math.floor(this.now() / 1000));
  }

  /** The caller a token names; rejects with a 401 AppError (`TOKEN_INVALID`, `TOKEN_EXPIRED`, `TOKEN_WRONG_AUDIENCE`). */
  async verify(token: string): Promise<AuthContext> {
    const nowMs = this.now();
    // jose's own reading of the clock, so that its checks and these agree to the second.
    const now = Math.floor(nowMs / 1000);
    const cached = this.cache.get(token, now);
    if (cached) return cached;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, { ...this.verifyOptions, currentDate: new Date(nowMs) }));
    } catch (error) {
      throw refusalFor(error);
    }
    // jose has checked that both are numbers, and that exp is not past.
    const iat = payload.iat!;
    const exp = payload.exp!;
    if (iat > now + this.tolerance) throw tokenRefusal('TOKEN_INVALID', 'the token is issued in the future (iat)');
    if (exp - iat > this.maxLifetime) {
      throw tokenRefusal('TOKEN_INVALID', `the token is valid for longer than ${this.maxLifetime} s (exp - iat)`);
    }
    const caller = callerFrom(payload);
    if (token.length <= MAX_CACHED_TOKEN_LENGTH && exp > now) this.cache.set(token, caller, exp);
    return caller;
  }
}
