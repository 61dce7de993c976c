import { SignJWT, base64url, generateKeyPair, type CryptoKey } from 'jose';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, ensureSigningKey } from '@cdc-outbox-saga/local-stack';

const now = () => Math.floor(Date.now() / 1000);

export interface Claims {
  sub: string;
  scope?: string;
  /** Seconds since the epoch; null leaves the claim out. Now unless given. */
  iat?: number | null;
  /** Seconds since the epoch. An hour after `iat` (or now) unless given. */
  exp?: number;
  aud?: string;
  iss?: string;
}

/**
 * A token signed like the stack's development tokens (ES256, its key and kid), with whatever claims a
 * case needs; `key` signs with another key instead.
 */
export async function signedToken(claims: Claims, key?: CryptoKey): Promise<string> {
  const stack = await ensureSigningKey();
  const iat = claims.iat === undefined ? now() : claims.iat;
  const jwt = new SignJWT({ scope: claims.scope ?? '' })
    .setProtectedHeader({ alg: 'ES256', kid: stack.kid, typ: 'JWT' })
    .setIssuer(claims.iss ?? TOKEN_ISSUER)
    .setAudience(claims.aud ?? TOKEN_AUDIENCE)
    .setSubject(claims.sub)
    .setExpirationTime(claims.exp ?? (iat ?? now()) + 3600);
  if (iat !== null) jwt.setIssuedAt(iat);
  return jwt.sign(key ?? stack.privateKey);
}

/** A key the stack does not know. */
export async function strangerKey(): Promise<CryptoKey> {
  return (await generateKeyPair('ES256')).privateKey;
}

/** An unsigned token (`alg: none`) with otherwise valid claims. */
export function unsignedToken(sub: string, scope = ''): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  const iat = now();
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub, scope, iat, exp: iat + 600 })}.`;
}

/** Seconds since the epoch, `seconds` from now. */
export function inSeconds(seconds: number): number {
  return now() + seconds;
}
