import test from 'ava';
import { SignJWT, generateKeyPair, type JWTPayload } from 'jose';
import { SCOPE_TOKEN as DEV_TOKEN_SCOPE } from '@cdc-outbox-saga/local-stack';
import { AppError, TokenVerifier, VerifiedTokens, type TokenVerifierOptions } from '../../src/index.js';
import { SCOPE_TOKEN } from '../../src/auth/token-verifier.js';

// The verifier's clock is this test's: it moves past a token's exp without waiting for it.
const ISSUER = 'test-issuer';
const AUDIENCE = 'test-audience';
const keys = await generateKeyPair('ES256');
const T0 = 1_900_000_000; // seconds since the epoch: some day in 2030

function verifierAt(clock: { seconds: number }, options: Partial<TokenVerifierOptions> = {}): TokenVerifier {
  return new TokenVerifier({
    publicKey: keys.publicKey,
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSeconds: 0,
    now: () => clock.seconds * 1000,
    ...options,
  });
}

function token(claims: JWTPayload = {}): Promise<string> {
  const defaults = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: T0, exp: T0 + 300, scope: 'orders:read' };
  return new SignJWT({ ...defaults, ...claims }).setProtectedHeader({ alg: 'ES256' }).sign(keys.privateKey);
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string; status: number }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return { code: error.code, message: error.message, status: error.status };
}

test('a verified token is remembered: the same token again is answered from the cache, with the same caller', async (t) => {
  const clock = { seconds: T0 };
  const verifier = verifierAt(clock);
  const jwt = await token();
  t.is(verifier.remembered(jwt), undefined);
  const first = await verifier.verify(jwt);
  t.deepEqual(first, { subject: 'alice', scopes: ['orders:read'] });
  t.true(Object.isFrozen(first) && Object.isFrozen(first.scopes), 'shared between requests, so nobody may change it');
  t.is(verifier.cache.size, 1);
  t.is(verifier.remembered(jwt), first, 'a hit, without verifying again');
  t.is(await verifier.verify(jwt), first);
  t.is(verifier.cache.size, 1);
});

test('a remembered token is dropped at its exp: a second before it is a hit, at it the token is verified again and refused', async (t) => {
  const clock = { seconds: T0 };
  const verifier = verifierAt(clock);
  const jwt = await token({ exp: T0 + 60 });
  const caller = await verifier.verify(jwt);
  clock.seconds = T0 + 59;
  t.is(verifier.remembered(jwt), caller);
  clock.seconds = T0 + 60;
  t.is(verifier.remembered(jwt), undefined);
  t.is(verifier.cache.size, 0, 'the expired entry is gone');
  t.like(await refusal(verifier.verify(jwt)), { code: 'TOKEN_EXPIRED', status: 401 });
  t.is(verifier.cache.size, 0);
});

test('within the clock tolerance past exp a token still verifies, but is not remembered past its exp', async (t) => {
  const clock = { seconds: T0 + 310 };
  const verifier = verifierAt(clock, { clockToleranceSeconds: 30 });
  const jwt = await token();
  t.deepEqual(await verifier.verify(jwt), { subject: 'alice', scopes: ['orders:read'] });
  t.is(verifier.cache.size, 0);
});

test('the cache holds at most its bound, dropping the least recently used token first', async (t) => {
  const clock = { seconds: T0 };
  const verifier = verifierAt(clock, { cacheMaxEntries: 3 });
  const jwts = await Promise.all(['a', 'b', 'c', 'd'].map((sub) => token({ sub })));
  for (const jwt of jwts.slice(0, 3)) await verifier.verify(jwt);
  t.truthy(verifier.remembered(jwts[0]!), 'a is used again: b is now the least recent');
  await verifier.verify(jwts[3]!);
  t.is(verifier.cache.size, 3);
  t.is(verifier.remembered(jwts[1]!), undefined, 'b was dropped');
  for (const i of [0, 2, 3]) t.truthy(verifier.remembered(jwts[i]!));
});

test('refused tokens are not remembered', async (t) => {
  const clock = { seconds: T0 };
  const verifier = verifierAt(clock);
  await refusal(verifier.verify(await token({ aud: 'elsewhere' })));
  await refusal(verifier.verify(await token({ exp: T0 + 86_401 })));
  await refusal(verifier.verify(await token({ iat: T0 + 10, exp: T0 + 100 })));
  t.is(verifier.cache.size, 0);
});

test('an iat in the future beyond the tolerance is refused, within it accepted', async (t) => {
  const clock = { seconds: T0 };
  const verifier = verifierAt(clock, { clockToleranceSeconds: 30 });
  t.like(await refusal(verifier.verify(await token({ iat: T0 + 31, exp: T0 + 331 }))), {
    code: 'TOKEN_INVALID',
    message: 'the token is issued in the future (iat)',
    status: 401,
  });
  t.deepEqual(await verifier.verify(await token({ iat: T0 + 30, exp: T0 + 330 })), { subject: 'alice', scopes: ['orders:read'] });
});

test('a lifetime exp - iat over the cap (24 h unless set) is refused, whatever the clock says', async (t) => {
  const clock = { seconds: T0 };
  const verifier = verifierAt(clock);
  t.deepEqual(await verifier.verify(await token({ exp: T0 + 86_400 })), { subject: 'alice', scopes: ['orders:read'] });
  t.like(await refusal(verifier.verify(await token({ exp: T0 + 86_401 }))), {
    code: 'TOKEN_INVALID',
    message: 'the token is valid for longer than 86400 s (exp - iat)',
  });
  // Issued two days ago, good for another minute: the lifetime is the problem, not the expiry.
  t.like(await refusal(verifier.verify(await token({ iat: T0 - 2 * 86_400, exp: T0 + 60 }))), { code: 'TOKEN_INVALID' });
  t.throws(() => verifierAt(clock, { maxLifetimeSeconds: 0 }), { instanceOf: TypeError });
});

test('VerifiedTokens: entries past exp are never returned, the bound holds, and 0 keeps nothing', (t) => {
  const cache = new VerifiedTokens(2);
  const caller = { subject: 's', scopes: [] };
  cache.set('a', caller, 100);
  cache.set('b', caller, 200);
  t.is(cache.get('a', 99), caller);
  t.is(cache.get('a', 100), undefined);
  t.is(cache.size, 1);
  cache.set('c', caller, 300);
  cache.set('d', caller, 300);
  t.is(cache.size, 2);
  t.is(cache.get('b', 0), undefined, 'the least recently used went');
  const none = new VerifiedTokens(0);
  none.set('a', caller, 100);
  t.is(none.size, 0);
  t.throws(() => new VerifiedTokens(-1), { instanceOf: TypeError });
});

test("a scope the verifier refuses is one compose/local's dev tokens refuse to carry: its copy of SCOPE_TOKEN is this one", async (t) => {
  // compose/local cannot import the platform (this package's tests depend on it), so it keeps a copy.
  t.is(DEV_TOKEN_SCOPE.source, SCOPE_TOKEN.source);
  t.is(DEV_TOKEN_SCOPE.flags, SCOPE_TOKEN.flags);
  const verifier = verifierAt({ seconds: T0 });
  t.deepEqual(await verifier.verify(await token({ scope: 'orders:read orders:read-all' })), {
    subject: 'alice',
    scopes: ['orders:read', 'orders:read-all'],
  });
  t.like(await refusal(verifier.verify(await token({ scope: 'orders:"read"' }))), { code: 'TOKEN_INVALID', status: 401 });
});
