import test from 'ava';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import * as platform from '@cdc-outbox-saga/platform';
import { authenticate, verifierOptionsFrom } from '../../src/auth.js';
import { gatewaySettings } from '../../src/start.js';

// The rules themselves are tested with the platform (test/unit/authenticate.test.ts there); here, that the
// gateway and the services apply the same ones, with the settings their config files give them.
const keys = await generateKeyPair('ES256');
const dir = mkdtempSync(join(tmpdir(), 'gateway-auth-'));
const publicKeyFile = join(dir, 'jwt-public-key.json');
writeFileSync(publicKeyFile, JSON.stringify(await exportJWK(keys.publicKey)));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { auth?: Record<string, unknown> };
const platformDefaults = readJson(join(platform.platformConfigDir, 'default.json'));
const gatewayDefaults = readJson(fileURLToPath(new URL('../../../config/default.json', import.meta.url)));
// node-config's layering: the platform's files first, the gateway's own over them; the key file from JWT_PUBLIC_KEY_FILE.
const gatewayAuth = gatewaySettings.shape.auth.parse({ ...platformDefaults.auth, ...gatewayDefaults.auth, publicKeyFile });
const serviceAuth = platform.baseServiceSettings.shape.auth.parse({ ...platformDefaults.auth, publicKeyFile });

const now = () => Math.floor(Date.now() / 1000);
function token(claims: JWTPayload = {}): Promise<string> {
  const defaults = {
    sub: 'alice',
    iss: gatewayAuth.issuer,
    aud: gatewayAuth.audience,
    iat: now(),
    exp: now() + 3600,
    scope: 'orders:read-all',
  };
  return new SignJWT({ ...defaults, ...claims }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(keys.privateKey);
}

test("the gateway verifies with the platform's code, not a copy of its own", (t) => {
  t.is(authenticate, platform.authenticate);
  t.is(verifierOptionsFrom, platform.verifierOptionsFrom);
});

test('the gateway and the services read the same auth settings from their config files', (t) => {
  t.deepEqual(gatewayAuth, serviceAuth);
  t.is(serviceAuth.maxLifetimeSeconds, 86_400);
});

test('a token valid for the gateway is valid for the services, and one the gateway refuses they refuse alike', async (t) => {
  const atGateway = new platform.TokenVerifier(verifierOptionsFrom(gatewayAuth));
  const atService = new platform.TokenVerifier(verifierOptionsFrom(serviceAuth));
  const verdict = (verifier: platform.TokenVerifier, jwt: string) =>
    verifier.verify(jwt).then(
      (caller) => ({ caller }),
      (error: platform.AppError) => ({ refused: error.code, message: error.message }),
    );
  const tokens: Array<[string, Promise<string>]> = [
    ['an hour', token()],
    ['a day, the longest', token({ exp: now() + 86_400 })],
    ['a day and a second', token({ exp: now() + 86_401 })],
    ['issued in the future', token({ iat: now() + 3600, exp: now() + 7200 })],
    ['expired', token({ iat: now() - 7200, exp: now() - 3600 })],
    ['for another audience', token({ aud: 'another-api' })],
  ];
  for (const [what, jwt] of tokens) {
    t.deepEqual(await verdict(atService, await jwt), await verdict(atGateway, await jwt), what);
  }
  t.deepEqual(await verdict(atService, await tokens[1]![1]), { caller: { subject: 'alice', scopes: ['orders:read-all'] } });
});

test('the gateway passes the Authorization header on as it came and adds no identity header', async (t) => {
  const app = express();
  app.use(authenticate({ ...verifierOptionsFrom(gatewayAuth), publicPaths: ['/health'] }));
  app.use((req, res) => res.json({ headers: req.headers }));
  const server = app.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await once(server, 'listening');
  const jwt = await token();
  const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/orders`, {
    headers: { authorization: `Bearer ${jwt}` },
  });
  const { headers } = (await answer.json()) as { headers: Record<string, string> };
  t.is(headers.authorization, `Bearer ${jwt}`);
  t.deepEqual(
    Object.keys(headers).filter((name) => name.startsWith('x-auth-')),
    [],
  );
});
