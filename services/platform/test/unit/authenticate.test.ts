import test from 'ava';
import { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair, generateSecret, type JWTPayload } from 'jose';
import { authenticate, holdContinue, readPublicKeyFile, verifierOptionsFrom, type AuthenticateOptions } from '../../src/index.js';

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
    reached.push(`${req.method} ${req.path}`);
    res.json({ auth: req.auth ?? null });
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reached, server };
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

test('a valid token passes, with the verified subject and scopes on the request', async (t) => {
  const { url } = await appWith();
  const answer = await fetch(`${url}/orders`, { headers: bearer(await token()) });
  t.is(answer.status, 200);
  t.deepEqual(await answer.json(), { auth: { subject: 'alice', scopes: ['orders:read', 'orders:write'] } });
});

test('the scheme name is case-insensitive (RFC 9110 section 11.1)', async (t) => {
  const { url } = await appWith();
  t.is((await fetch(`${url}/x`, { headers: { authorization: `bearer ${await token()}` } })).status, 200);
});

test('identity headers a client writes name no one: the caller comes from the token alone', async (t) => {
  const { url, reached } = await appWith();
  const forged = { 'x-auth-subject': 'admin', 'x-auth-scopes': 'orders:read-all' };
  const withToken = await fetch(`${url}/orders`, { headers: { ...bearer(await token({ scope: undefined })), ...forged } });
  t.deepEqual(await withToken.json(), { auth: { subject: 'alice', scopes: [] } });
  const withoutToken = await fetch(`${url}/orders`, { headers: forged });
  t.is(withoutToken.status, 401);
  t.like(await withoutToken.json(), { error: { code: 'TOKEN_MISSING' } });
  t.deepEqual(reached, ['GET /orders']);
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
    const answer = await fetch(`${url}/orders`, { headers });
    t.is(answer.status, 401);
    t.is(answer.headers.get('www-authenticate'), 'Bearer realm="cdc-outbox-saga"');
    t.is(answer.headers.get('content-type'), 'application/json; charset=utf-8');
    t.deepEqual(await answer.json(), { error: { code: 'TOKEN_MISSING', message: 'send a bearer token: Authorization: Bearer <token>' } });
  }
  t.deepEqual(reached, []);
});

const hs256 = (secret: Uint8Array) =>
  new SignJWT({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 300 }).setProtectedHeader({ alg: 'HS256' }).sign(secret);
const utf8 = (text: string) => new TextEncoder().encode(text);

const refused: Array<[what: string, make: () => Promise<string>, code: string, message: RegExp]> = [
  ['signed by another key', () => token({}, strangerKeys.privateKey), 'TOKEN_INVALID', /signature does not verify/],
  [
    'with a tampered payload',
    async () => {
      const [header, , signature] = (await token()).split('.');
      const payload = Buffer.from(JSON.stringify({ sub: 'admin', iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 300 })).toString(
        'base64url',
      );
      return `${header}.${payload}.${signature}`;
    },
    'TOKEN_INVALID',
    /signature does not verify/,
  ],
  ['that has expired', () => token({ iat: now() - 600, exp: now() - 120 }), 'TOKEN_EXPIRED', /expired/],
  ['for another audience', () => token({ aud: 'another-api' }), 'TOKEN_WRONG_AUDIENCE', /not meant for this API/],
  ['from another issuer', () => token({ iss: 'someone-else' }), 'TOKEN_INVALID', /unknown issuer/],
  ['not valid yet', () => token({ nbf: now() + 600 }), 'TOKEN_INVALID', /not valid yet/],
  ['issued in the future', () => token({ iat: now() + 600, exp: now() + 900 }), 'TOKEN_INVALID', /issued in the future/],
  ['valid for 100 years', () => token({ exp: now() + 100 * 365 * 86_400 }), 'TOKEN_INVALID', /valid for longer than 86400 s/],
  ['valid for a second more than a day', () => token({ exp: now() + 86_401 }), 'TOKEN_INVALID', /valid for longer than 86400 s/],
  [
    'issued long ago and still valid for a while (lifetime over the cap)',
    () => token({ iat: now() - 2 * 86_400, exp: now() + 600 }),
    'TOKEN_INVALID',
    /valid for longer than/,
  ],
  [
    'left unsigned (alg none)',
    async () => new UnsecuredJWT({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 300 }).encode(),
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
  ['without sub', () => signed({ iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 300 }), 'TOKEN_INVALID', /no sub claim/],
  [
    'without exp, so never expiring',
    () => signed({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: now() }),
    'TOKEN_INVALID',
    /no exp claim/,
  ],
  ['without iat', () => signed({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: now() + 300 }), 'TOKEN_INVALID', /no iat claim/],
  ['with an iat that is not a number', () => token({ iat: 'yesterday' as never }), 'TOKEN_INVALID', /iat claim is not acceptable/],
  ['with a subject that is not printable ASCII', () => token({ sub: 'alice\r\nx-admin: yes' }), 'TOKEN_INVALID', /not a usable subject/],
  ['with a scope that is not a string', () => token({ scope: ['admin'] }), 'TOKEN_INVALID', /scope claim/],
  ['that is not a JWT', async () => 'not-a-jwt', 'TOKEN_INVALID', /malformed/],
  ['of three garbage parts', async () => 'abc.def.ghi', 'TOKEN_INVALID', /malformed/],
  ['followed by more words', async () => `${await token()} and-more`, 'TOKEN_INVALID', /more than one token/],
];

for (const [what, make, code, message] of refused) {
  test(`a token ${what} is 401 ${code} with an invalid_token challenge, and nothing is reached`, async (t) => {
    const { url, reached } = await appWith({ clockToleranceSeconds: 30 });
    const answer = await fetch(`${url}/orders`, { headers: bearer(await make()) });
    t.is(answer.status, 401);
    t.regex(
      answer.headers.get('www-authenticate') ?? '',
      /^Bearer realm="cdc-outbox-saga", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/,
    );
    t.is(answer.headers.get('content-type'), 'application/json; charset=utf-8');
    const body = (await answer.json()) as { error: { code: string; message: unknown } };
    t.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
    t.is(body.error.code, code);
    t.regex(String(body.error.message), message);
    t.deepEqual(reached, []);
  });
}

test('a token expired less than the clock tolerance ago still passes', async (t) => {
  const { url } = await appWith({ clockToleranceSeconds: 60 });
  const answer = await fetch(`${url}/x`, { headers: bearer(await token({ iat: now() - 600, exp: now() - 20 })) });
  t.is(answer.status, 200);
});

test("an iat ahead of this clock by less than the tolerance passes (the issuer's clock may run a little fast)", async (t) => {
  const { url } = await appWith({ clockToleranceSeconds: 30 });
  t.is((await fetch(`${url}/x`, { headers: bearer(await token({ iat: now() + 20, exp: now() + 320 })) })).status, 200);
  t.is((await fetch(`${url}/x`, { headers: bearer(await token({ iat: now() + 40, exp: now() + 340 })) })).status, 401);
});

test('a lifetime of exactly the cap passes; the cap can be set lower', async (t) => {
  const { url } = await appWith();
  const day = await token({ exp: now() + 86_400 });
  t.is((await fetch(`${url}/x`, { headers: bearer(day) })).status, 200);
  const short = await appWith({ maxLifetimeSeconds: 600 });
  t.is((await fetch(`${short.url}/x`, { headers: bearer(await token({ exp: now() + 600 })) })).status, 200);
  const answer = await fetch(`${short.url}/x`, { headers: bearer(await token({ exp: now() + 601 })) });
  t.is(answer.status, 401);
  t.like(await answer.json(), { error: { code: 'TOKEN_INVALID', message: 'the token is valid for longer than 600 s (exp - iat)' } });
});

test('GET and HEAD of the public paths need no token; other methods and other paths do', async (t) => {
  const { url, reached } = await appWith();
  for (const path of ['/health', '/metrics']) {
    const answer = await fetch(`${url}${path}`, { headers: { 'x-auth-subject': 'admin' } });
    t.is(answer.status, 200);
    t.deepEqual(await answer.json(), { auth: null });
    t.is((await fetch(`${url}${path}`, { method: 'HEAD' })).status, 200);
  }
  t.deepEqual(reached, ['GET /health', 'HEAD /health', 'GET /metrics', 'HEAD /metrics']);
  t.is((await fetch(`${url}/health/more`)).status, 401, 'only the exact path is public');
  t.is((await fetch(`${url}/health`, { method: 'POST' })).status, 401, 'only reading it is public');
  t.is((await fetch(`${url}/metrics`, { method: 'DELETE' })).status, 401);
});

test('the refusal can be replaced by the caller (the gateway answers 429 once an address spent its bucket)', async (t) => {
  let refusals = 0;
  const { url } = await appWith({
    onRefused: (_req, res, sendRefusal) => {
      refusals++;
      if (refusals > 1) res.status(429).json({ error: { code: 'RATE_LIMITED', message: 'slow down' } });
      else sendRefusal();
    },
  });
  t.is((await fetch(`${url}/x`)).status, 401);
  t.is((await fetch(`${url}/x`)).status, 429);
});

test('the public key may be read from a JWK file, through the auth settings', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'public.json'), JSON.stringify(await exportJWK(issuerKeys.publicKey)));
  const settings = { publicKeyFile: join(dir, 'public.json'), issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 0 };
  const { url } = await appWith(verifierOptionsFrom(settings));
  t.is((await fetch(`${url}/x`, { headers: bearer(await token()) })).status, 200);
  t.is((await fetch(`${url}/x`, { headers: bearer(await token({}, strangerKeys.privateKey)) })).status, 401);
  t.throws(() => readPublicKeyFile(join(dir, 'absent.json')), { message: /absent\.json cannot be read/ });
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

/** What a raw HTTP/1.1 exchange gets back, the interim 100 included, until the server ends it or `ms` pass. */
async function rawExchange(port: number, head: string, body: string, ms = 1500): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
    // Like a client honouring Expect: send the body once the 100 came.
    if (received.startsWith('HTTP/1.1 100') && !socket.destroyed && body) {
      socket.write(body);
      body = '';
    }
  });
  socket.write(head);
  await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, ms))]);
  socket.destroy();
  return received;
}

test('with the 100 Continue held back by the server, a request without a valid token gets its 401 and never a 100', async (t) => {
  const app = express();
  app.use(authenticate({ publicKey: issuerKeys.publicKey, issuer: ISSUER, audience: AUDIENCE }));
  app.use(express.json());
  app.post('/orders', (req, res) => res.status(201).json({ got: req.body }));
  const server = createServer(app);
  server.on('checkContinue', (req, res) => {
    holdContinue(req);
    server.emit('request', req, res);
  });
  server.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const body = '{"a":1}';
  const head = (authorization: string) =>
    `POST /orders HTTP/1.1\r\nHost: x\r\n${authorization}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;

  const refused = await rawExchange(port, head(''), body);
  t.regex(refused, /^HTTP\/1\.1 401 /);
  t.notRegex(refused, /100 Continue/);

  const accepted = await rawExchange(port, head(`Authorization: Bearer ${await token()}\r\n`), body);
  t.regex(accepted, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
  t.regex(accepted, /\{"got":\{"a":1\}\}/);
});
