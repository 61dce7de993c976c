import test from 'ava';
import { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair, generateSecret, type JWTPayload } from 'jose';
import {
  AUTH_SCOPES_HEADER,
  AUTH_SUBJECT_HEADER,
  authenticate,
  readPublicKeyFile,
  type AuthenticateOptions,
} from '../../src/auth.js';

// Real keys, real sockets: a tiny app with the middleware in front of a handler that tells what reached it.
const ISSUER = 'test-issuer';
const AUDIENCE = 'test-audience';
const issuerKeys = await generateKeyPair('ES256', { extractable: true });
const strangerKeys = await generateKeyPair('ES256');
const now = () => Math.floor(Date.now() / 1000);

const servers: Server[] = [];
test.after.always(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

async function appWith(overrides: Partial<AuthenticateOptions> = {}) {
  const reached: string[] = [];
  const app = express();
  app.use(
    authenticate({
      publicKey: issuerKeys.publicKey,
      issuer: ISSUER,
      audience: AUDIENCE,
      publicPaths: ['/health', '/metrics'],
      ...overrides,
    }),
  );
  app.use((req, res) => {
    reached.push(req.path);
    res.json({
      auth: req.auth ?? null,
      subject: req.headers[AUTH_SUBJECT_HEADER] ?? null,
      scopes: req.headers[AUTH_SCOPES_HEADER] ?? null,
    });
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reached };
}

/** A good token, with `claims` changed (an undefined one is left out). */
function token(claims: JWTPayload = {}, key = issuerKeys.privateKey): Promise<string> {
  const defaults = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 300, scope: 'orders:read orders:write' };
  return new SignJWT({ ...defaults, ...claims }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(key);
}

/** Exactly these claims, signed by the issuer: for tokens `token()` would not make. */
function signed(claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(issuerKeys.privateKey);
}

const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });

test('a valid token passes, with the verified subject and scopes on the request and in the forwarded headers', async (t) => {
  const { url } = await appWith();
  const answer = await fetch(`${url}/api/orders`, { headers: bearer(await token()) });
  t.is(answer.status, 200);
  t.deepEqual(await answer.json(), {
    auth: { subject: 'alice', scopes: ['orders:read', 'orders:write'] },
    subject: 'alice',
    scopes: 'orders:read orders:write',
  });
});

test('the scheme name is case-insensitive (RFC 9110 section 11.1)', async (t) => {
  const { url } = await appWith();
  t.is((await fetch(`${url}/x`, { headers: { authorization: `bearer ${await token()}` } })).status, 200);
});

test('identity headers sent by the client are replaced by the token\'s', async (t) => {
  const { url } = await appWith();
  const answer = await fetch(`${url}/api/orders`, {
    headers: { ...bearer(await token({ scope: undefined })), [AUTH_SUBJECT_HEADER]: 'admin', [AUTH_SCOPES_HEADER]: 'admin:all' },
  });
  t.like(await answer.json(), { auth: { subject: 'alice', scopes: [] }, subject: 'alice', scopes: '' });
});

test('without a token the answer is 401 TOKEN_MISSING with a bare Bearer challenge, and nothing is reached', async (t) => {
  const { url, reached } = await appWith();
  const offers: Array<Record<string, string>> = [
    {},
    { authorization: '' },
    { authorization: 'Basic YWxpY2U6c2VjcmV0' },
    { authorization: 'Bearer' },
    { authorization: 'Bearer    ' },
    { authorization: 'Bearertoken' },
  ];
  for (const headers of offers) {
    const answer = await fetch(`${url}/api/orders`, { headers });
    t.is(answer.status, 401);
    t.is(answer.headers.get('www-authenticate'), 'Bearer realm="cdc-outbox-saga"');
    t.regex(answer.headers.get('content-type') ?? '', /^application\/json/);
    t.like(await answer.json(), { error: { code: 'TOKEN_MISSING' } });
  }
  t.deepEqual(reached, []);
});

const hs256 = (secret: Uint8Array) =>
  new SignJWT({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: now() + 300 }).setProtectedHeader({ alg: 'HS256' }).sign(secret);
const utf8 = (text: string) => new TextEncoder().encode(text);

const refused: Array<[what: string, make: () => Promise<string>, code: string, message: RegExp]> = [
  ['signed by another key', () => token({}, strangerKeys.privateKey), 'TOKEN_INVALID', /signature does not verify/],
  ['with a tampered payload', async () => {
    const [header, , signature] = (await token()).split('.');
    const payload = Buffer.from(JSON.stringify({ sub: 'admin', iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })).toString('base64url');
    return `${header}.${payload}.${signature}`;
  }, 'TOKEN_INVALID', /signature does not verify/],
  ['that has expired', () => token({ iat: now() - 600, exp: now() - 120 }), 'TOKEN_EXPIRED', /expired/],
  ['for another audience', () => token({ aud: 'another-api' }), 'TOKEN_WRONG_AUDIENCE', /not meant for this API/],
  ['from another issuer', () => token({ iss: 'someone-else' }), 'TOKEN_INVALID', /unknown issuer/],
  ['not valid yet', () => token({ nbf: now() + 600 }), 'TOKEN_INVALID', /not valid yet/],
  [
    'left unsigned (alg none)',
    async () => new UnsecuredJWT({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: now() + 300 }).encode(),
    'TOKEN_INVALID',
    /not signed with ES256/,
  ],
  [
    'signed HS256 with the public key (PEM) as the HMAC secret',
    async () => hs256(utf8(await exportSPKI(issuerKeys.publicKey))),
    'TOKEN_INVALID',
    /not signed with ES256/,
  ],
  [
    'signed HS256 with the public JWK as the HMAC secret',
    async () => hs256(utf8(JSON.stringify(await exportJWK(issuerKeys.publicKey)))),
    'TOKEN_INVALID',
    /not signed with ES256/,
  ],
  ['without sub', () => signed({ iss: ISSUER, aud: AUDIENCE, exp: now() + 300 }), 'TOKEN_INVALID', /no sub claim/],
  ['without exp, so never expiring', () => signed({ sub: 'alice', iss: ISSUER, aud: AUDIENCE }), 'TOKEN_INVALID', /no exp claim/],
  ['with a subject that cannot go into a header', () => token({ sub: 'alice\r\nx-admin: yes' }), 'TOKEN_INVALID', /not a usable subject/],
  ['with a scope that is not a string', () => token({ scope: ['admin'] }), 'TOKEN_INVALID', /scope claim/],
  ['that is not a JWT', async () => 'not-a-jwt', 'TOKEN_INVALID', /malformed/],
  ['of three garbage parts', async () => 'abc.def.ghi', 'TOKEN_INVALID', /malformed/],
  ['followed by more words', async () => `${await token()} and-more`, 'TOKEN_INVALID', /more than one token/],
];

for (const [what, make, code, message] of refused) {
  test(`a token ${what} is 401 ${code} with an invalid_token challenge, and nothing is reached`, async (t) => {
    const { url, reached } = await appWith();
    const answer = await fetch(`${url}/api/orders`, { headers: { ...bearer(await make()), [AUTH_SUBJECT_HEADER]: 'alice' } });
    t.is(answer.status, 401);
    t.regex(
      answer.headers.get('www-authenticate') ?? '',
      /^Bearer realm="cdc-outbox-saga", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/,
    );
    const body = (await answer.json()) as { error: { code: string; message: unknown } };
    t.is(body.error.code, code);
    t.regex(String(body.error.message), message);
    t.is(typeof body.error.message, 'string');
    t.deepEqual(reached, []);
  });
}

test('a token expired less than the clock tolerance ago still passes', async (t) => {
  const { url } = await appWith({ clockToleranceSeconds: 60 });
  const answer = await fetch(`${url}/x`, { headers: bearer(await token({ iat: now() - 600, exp: now() - 20 })) });
  t.is(answer.status, 200);
});

test('public paths need no token, yet client-sent identity headers are still dropped', async (t) => {
  const { url, reached } = await appWith();
  for (const path of ['/health', '/metrics']) {
    const answer = await fetch(`${url}${path}`, { headers: { [AUTH_SUBJECT_HEADER]: 'admin' } });
    t.is(answer.status, 200);
    t.deepEqual(await answer.json(), { auth: null, subject: null, scopes: null });
  }
  t.deepEqual(reached, ['/health', '/metrics']);
  t.is((await fetch(`${url}/health/more`)).status, 401, 'only the exact path is public');
});

test('the public key may be given as a JWK, as read from a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'public.json'), JSON.stringify(await exportJWK(issuerKeys.publicKey)));
  const { url } = await appWith({ publicKey: readPublicKeyFile(join(dir, 'public.json')) });
  t.is((await fetch(`${url}/x`, { headers: bearer(await token()) })).status, 200);
  t.is((await fetch(`${url}/x`, { headers: bearer(await token({}, strangerKeys.privateKey)) })).status, 401);
});

test('the public key may be given as a Node KeyObject', async (t) => {
  const { url } = await appWith({ publicKey: KeyObject.from(issuerKeys.publicKey) });
  t.is((await fetch(`${url}/x`, { headers: bearer(await token()) })).status, 200);
});

test('a secret, a private key or another curve is refused when the middleware is made', async (t) => {
  const base = { issuer: ISSUER, audience: AUDIENCE };
  const rsa = await generateKeyPair('RS256');
  const p384 = await generateKeyPair('ES384');
  const secret = await generateSecret('HS256');
  t.throws(() => authenticate({ ...base, publicKey: secret }), { instanceOf: TypeError });
  t.throws(() => authenticate({ ...base, publicKey: new Uint8Array(32) as never }), { message: /shared secret/ });
  t.throws(() => authenticate({ ...base, publicKey: issuerKeys.privateKey }), { instanceOf: TypeError });
  t.throws(() => authenticate({ ...base, publicKey: rsa.publicKey }), { instanceOf: TypeError });
  t.throws(() => authenticate({ ...base, publicKey: p384.publicKey }), { instanceOf: TypeError });
  const privateJwk = await exportJWK(issuerKeys.privateKey);
  t.throws(() => authenticate({ ...base, publicKey: privateJwk }), { message: /private JWK/ });
});
