import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { settings } from './settings.js';

/** The `iss` of development tokens; the gateway and the services of the local stack accept only this issuer. */
export const TOKEN_ISSUER = 'cdc-outbox-saga-local';
/** The `aud` of development tokens: the API, as the gateway and every service check it. */
export const TOKEN_AUDIENCE = 'cdc-outbox-saga';

const ALGORITHM = 'ES256';
/**
 * The longest lifetime minted: the gateway and the services refuse a token whose `exp - iat` is longer
 * (`auth.maxLifetimeSeconds` of services/platform/config, 24 h), so none is made that they would refuse.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 86_400;

/** The development signing key, as `ensureSigningKey` found or made it. */
export interface SigningKey {
  /** The JWK thumbprint (RFC 7638) of the key, also its `kid`. */
  kid: string;
  privateKey: CryptoKey;
  /** What the gateway and the services verify with; also in `settings.publicKeyFile`. */
  publicJwk: JWK;
  /** True when this call made the key, false when it was already there. */
  created: boolean;
}

/** The public half of a private EC JWK: the same members without `d`. */
function publicHalf({ kty, crv, x, y, kid, alg, use }: JWK): JWK {
  return { kty, crv, x, y, kid, alg, use };
}

/**
 * Writes `content` to `file` all at once: readers never see half a file. With `exclusive`, an existing file
 * wins and false is returned (two `token` commands at once on a fresh clone must not end with two keys).
 */
function writeWhole(file: string, content: string, mode: number, exclusive: boolean): boolean {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode });
  try {
    if (!exclusive) {
      renameSync(temporary, file);
      return true;
    }
    linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * The ES256 key development tokens are signed with: made once into `settings.signingKeyFile` (the private
 * JWK, mode 0600, in the git-ignored state folder) and reused from there; its public JWK is kept next to it
 * in `settings.publicKeyFile`, for the gateway and the services to verify with. `npm run stack:reset`
 * deletes both, and a new key then invalidates every token minted before.
 */
export async function ensureSigningKey(): Promise<SigningKey> {
  const file = settings.signingKeyFile;
  mkdirSync(settings.stateDir, { recursive: true });
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let created = false;
  if (!existsSync(file)) {
    const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    created = writeWhole(file, `${JSON.stringify({ ...jwk, kid, alg: ALGORITHM, use: 'sig' }, null, 2)}\n`, 0o600, true);
  }
  // A key copied in or restored from a backup may have lost its mode; it is a secret either way.
  chmodSync(file, 0o600);
  const privateJwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-256' || !privateJwk.d) {
    throw new Error(`${file} is not a private EC P-256 JWK; delete it and a new key is made`);
  }
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(privateJwk));
  const publicJwk = publicHalf({ ...privateJwk, kid, alg: ALGORITHM, use: 'sig' });
  // Always derived from the private key, so it cannot drift from it (a crash between the two writes, a reset).
  const publicText = `${JSON.stringify(publicJwk, null, 2)}\n`;
  if (!existsSync(settings.publicKeyFile) || readFileSync(settings.publicKeyFile, 'utf8') !== publicText) {
    writeWhole(settings.publicKeyFile, publicText, 0o644, false);
  }
  const privateKey = (await importJWK(privateJwk, ALGORITHM)) as CryptoKey;
  return { kid, privateKey, publicJwk, created };
}

/** What a development token says; everything but the subject has a default. */
export interface MintOptions {
  subject: string;
  /** Scopes, written space-separated into the `scope` claim; none unless given. */
  scopes?: readonly string[];
  /** Lifetime; one hour unless given, at most `MAX_TOKEN_LIFETIME_SECONDS`. */
  ttlSeconds?: number;
  audience?: string;
  issuer?: string;
}

/**
 * One scope as RFC 6749 (3.3) defines a scope-token: printable ASCII without space, `"` or `\`. A copy of
 * `SCOPE_TOKEN` in services/platform/src/auth/token-verifier.ts, the rule the gateway and the services
 * verify by: this package cannot import the platform (the platform's tests depend on this package, and a
 * cycle is not allowed), so the platform's test/unit/token-verifier.test.ts checks that the two are the same.
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * A compact JWT for the local stack's API (the gateway and the services verify it), signed with the
 * development key (made on first use): ES256 with `kid`, and `iss`, `aud`, `sub`, `scope`, `iat`, `exp`.
 */
export async function mintToken(options: MintOptions): Promise<string> {
  const { subject, scopes = [], ttlSeconds = 3600, audience = TOKEN_AUDIENCE, issuer = TOKEN_ISSUER } = options;
  if (!/^[\x21-\x7e]{1,256}$/.test(subject)) {
    throw new Error(`the subject must be 1 to 256 printable ASCII characters without spaces, got "${subject}"`);
  }
  const bad = scopes.find((scope) => !SCOPE_TOKEN.test(scope));
  if (bad !== undefined) throw new Error(`"${bad}" is not a scope (printable ASCII, no spaces or quotes)`);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TOKEN_LIFETIME_SECONDS) {
    throw new Error(
      `the lifetime must be a whole number of seconds from 1 to ${MAX_TOKEN_LIFETIME_SECONDS} (24 h, the longest the gateway accepts), got ${ttlSeconds}`,
    );
  }
  const key = await ensureSigningKey();
  const issuedAt = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: scopes.join(' ') })
    .setProtectedHeader({ alg: ALGORITHM, kid: key.kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(subject)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ttlSeconds)
    .sign(key.privateKey);
}
