import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify } from 'jose';

// settings.ts reads STACK_DIR once, at import: point it at a fresh folder first, then import.
const stackDir = mkdtempSync(join(tmpdir(), 'dev-token-'));
process.env.STACK_DIR = stackDir;
const { settings } = await import('../../src/settings.js');
const { TOKEN_AUDIENCE, TOKEN_ISSUER, ensureSigningKey, mintToken } = await import('../../src/dev-token.js');

test.after.always(() => rmSync(stackDir, { recursive: true, force: true }));

test.serial('the signing key is made once, in the state folder, readable by its owner only, and reused after', async (t) => {
  t.is(settings.signingKeyFile, join(stackDir, 'secrets', 'jwt-signing-key.json'));
  t.is(settings.publicKeyFile, join(stackDir, 'secrets', 'jwt-public-key.json'));

  const first = await ensureSigningKey();
  t.true(first.created);
  t.is(statSync(settings.signingKeyFile).mode & 0o777, 0o600);
  t.is(statSync(join(stackDir, 'secrets')).mode & 0o077, 0, 'the secrets folder is private too');
  const written = readFileSync(settings.signingKeyFile, 'utf8');
  t.like(JSON.parse(written), { kty: 'EC', crv: 'P-256', alg: 'ES256', kid: first.kid });

  const second = await ensureSigningKey();
  t.false(second.created);
  t.is(second.kid, first.kid);
  t.is(readFileSync(settings.signingKeyFile, 'utf8'), written, 'the key file is not rewritten');
});

test.serial('the public key file holds the public half only', async (t) => {
  const { kid } = await ensureSigningKey();
  const publicJwk = JSON.parse(readFileSync(settings.publicKeyFile, 'utf8'));
  t.like(publicJwk, { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid });
  t.is(publicJwk.d, undefined);
});

test.serial('a minted token verifies with the public key and carries the claims', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const token = await mintToken({ subject: 'alice', scopes: ['orders:read', 'orders:write'], ttlSeconds: 120 });
  const publicJwk = JSON.parse(readFileSync(settings.publicKeyFile, 'utf8'));
  const { payload, protectedHeader } = await jwtVerify(token, publicJwk, {
    algorithms: ['ES256'],
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
  });
  t.like(protectedHeader, { alg: 'ES256', kid: publicJwk.kid, typ: 'JWT' });
  t.like(payload, { sub: 'alice', scope: 'orders:read orders:write', iss: 'cdc-outbox-saga-local', aud: 'cdc-outbox-saga' });
  t.true(payload.iat! >= before && payload.iat! <= before + 5);
  t.is(payload.exp! - payload.iat!, 120);
});

test.serial('defaults are one hour, no scopes, the local issuer and audience; both can be changed', async (t) => {
  const { kid } = await ensureSigningKey();
  const token = await mintToken({ subject: 'dev-user', audience: 'elsewhere', issuer: 'someone' });
  t.is(decodeProtectedHeader(token).kid, kid);
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  t.like(payload, { sub: 'dev-user', scope: '', aud: 'elsewhere', iss: 'someone' });
  t.is(payload.exp - payload.iat, 3600);
});

test.serial('a subject, scope or lifetime that a gateway would refuse is refused when minting', async (t) => {
  await t.throwsAsync(mintToken({ subject: '' }));
  await t.throwsAsync(mintToken({ subject: 'two words' }));
  await t.throwsAsync(mintToken({ subject: 'alice', scopes: ['a"b'] }));
  await t.throwsAsync(mintToken({ subject: 'alice', ttlSeconds: 0 }));
  await t.throwsAsync(mintToken({ subject: 'alice', ttlSeconds: 1.5 }));
  await t.throwsAsync(mintToken({ subject: 'alice', ttlSeconds: 86_401 }), { message: /from 1 to 86400 \(24 h/ });
});

test.serial('the longest lifetime minted is a day, as the gateway and the services accept at most', async (t) => {
  const token = await mintToken({ subject: 'alice', ttlSeconds: 86_400 });
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  t.is(payload.exp - payload.iat, 86_400);
});
