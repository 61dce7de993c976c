import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, ensureSigningKey, mintToken, serviceInstanceUrls, settings } from '@cdc-outbox-saga/local-stack';
import { closeDatabases, openDatabases } from '../../src/databases.js';
import { api, createProduct, createUser, placeOrder, subject } from '../helpers/api.js';
import { runOwnGateway } from '../helpers/processes.js';

const dbs = openDatabases();
test.after.always(() => closeDatabases(dbs));

/** A token signed like the stack's, with whatever claims and key a case needs. */
async function signed(claims: { sub?: string; aud?: string; exp?: number }, key?: Parameters<SignJWT['sign']>[0]): Promise<string> {
  const signing = key ?? (await ensureSigningKey()).privateKey;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: '' })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(claims.aud ?? TOKEN_AUDIENCE)
    .setSubject(claims.sub ?? subject)
    .setIssuedAt(now - 7200)
    .setExpirationTime(claims.exp ?? now + 600)
    .sign(signing);
}

async function usersNamed(name: string): Promise<number> {
  const row = await dbs.user('users').where({ name }).count({ count: '*' }).first();
  return Number(row?.count ?? 0);
}

test('a missing token, a bad signature, an expired token and a wrong audience each get 401 and write nothing', async (t) => {
  const otherKey = (await generateKeyPair('ES256')).privateKey;
  const cases: Array<[string, string | null, string]> = [
    ['no token', null, 'TOKEN_MISSING'],
    ['another key', await signed({}, otherKey), 'TOKEN_INVALID'],
    ['expired an hour ago', await signed({ exp: Math.floor(Date.now() / 1000) - 3600 }), 'TOKEN_EXPIRED'],
    ['wrong audience', await signed({ aud: 'someone-else' }), 'TOKEN_WRONG_AUDIENCE'],
    ['not a JWT', 'not.a.jwt', 'TOKEN_INVALID'],
  ];
  for (const [what, token, code] of cases) {
    const name = `refused-${randomUUID()}`;
    const answer = await api('POST', '/users', { body: { name, points: 10 }, token });
    t.is(answer.status, 401, what);
    t.is(answer.body.error?.code, code, what);
    t.regex(answer.headers.get('www-authenticate') ?? '', /^Bearer realm="cdc-outbox-saga"/, what);
    if (token !== null) t.regex(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
    t.is(await usersNamed(name), 0, `${what}: no row written`);
  }
});

test('the token `npm run -s token` prints is accepted', async (t) => {
  const printed = execFileSync('npm', ['run', '-s', 'token'], { cwd: settings.repoRoot, encoding: 'utf8', env: process.env }).trim();
  t.regex(printed, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'only the token on stdout');
  const productId = await createProduct(3, 5);
  const answer = await api('GET', `/products/${productId}`, { token: printed });
  t.is(answer.status, 200);
  t.is(answer.body.id, productId);
});

test('past the rate limit a subject gets 429 with Retry-After and RateLimit headers, and the refused requests write nothing', async (t) => {
  // A gateway of this test's own with a bucket of 3 that refills once a second, in front of a user instance:
  // 12 POSTs at once meet an empty bucket however slow the machine (the stack's bucket of 200 refilling 100/s
  // can be outrun by a slow gateway).
  const userInstance = Object.entries(serviceInstanceUrls()).find(([name]) => name.startsWith('user-'))![1];
  const own = await runOwnGateway({
    rateLimit: { capacity: 3, refillPerSecond: 1 },
    routes: [{ prefix: '/api/users', service: 'user', rewrite: '/users', targets: userInstance }],
  });
  t.teardown(() => own.stop());
  const token = await mintToken({ subject: `burst-${randomUUID().slice(0, 8)}` });
  const name = `burst-${randomUUID()}`;
  const post = async () => {
    const response = await fetch(`${own.url}/api/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, points: 1 }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  const answers = await Promise.all(Array.from({ length: 12 }, post));
  const created = answers.filter((a) => a.status === 201).length;
  const limited = answers.filter((a) => a.status === 429);
  t.true(limited.length > 0, `${created} created, none limited`);
  t.true(created >= 3, `the bucket's 3 went through: ${created} created`);
  t.is(created + limited.length, answers.length, 'every POST answered 201 or 429');
  const first = limited[0]!;
  t.is(first.body.error.code, 'RATE_LIMITED');
  t.true(Number(first.headers.get('retry-after')) >= 1);
  t.regex(first.headers.get('ratelimit-policy') ?? '', /"default";q=3;w=\d+/);
  t.regex(first.headers.get('ratelimit') ?? '', /"default";r=0;t=\d+/);
  t.is(await usersNamed(name), created, 'a row for each 201 and none for a 429');
  // Another subject has a bucket of its own.
  const other = await fetch(`${own.url}/api/users/${randomUUID()}`, {
    headers: { authorization: `Bearer ${await mintToken({ subject: `other-${randomUUID().slice(0, 8)}` })}` },
  });
  await other.arrayBuffer();
  t.is(other.status, 404);
});

test('an order records the subject that placed it; another subject cannot read it, the read-all scope can', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(2, 10);
  const placed = await placeOrder(userId, [{ productId, quantity: 1 }]);
  t.is(placed.status, 201);
  const row = await dbs.order('sagas').where({ order_id: placed.body.id }).first('placed_by');
  t.is(row.placed_by, subject);
  t.is((await api('GET', `/orders/${placed.body.id}`)).status, 200);
  const stranger = await mintToken({ subject: `stranger-${randomUUID().slice(0, 8)}` });
  const hidden = await api('GET', `/orders/${placed.body.id}`, { token: stranger });
  t.is(hidden.status, 404, "someone else's order is unknown to a stranger");
  t.is(hidden.body.error.code, 'ORDER_NOT_FOUND');
  const support = await mintToken({ subject: 'support-desk', scopes: ['orders:read-all'] });
  t.is((await api('GET', `/orders/${placed.body.id}`, { token: support })).status, 200);
  // A stranger reusing the owner's Idempotency-Key gets neither the owner's order nor a new one.
  const key = `key-${randomUUID()}`;
  t.is((await placeOrder(userId, [{ productId, quantity: 1 }], { 'idempotency-key': key })).status, 201);
  const reused = await api('POST', '/orders', {
    body: { userId, items: [{ productId, quantity: 1 }] },
    headers: { 'idempotency-key': key },
    token: stranger,
  });
  t.is(reused.status, 422);
});
