import test from 'ava';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { rateLimit, type RateLimiter, type RateLimitOptions } from '../../src/rate-limit.js';

// Real sockets: a tiny app with the limiter in front of a handler. `X-Test-Subject` stands in for a verified
// token (it sets req.auth the way `authenticate` does), so the keys can be told apart without minting tokens.
const servers: Server[] = [];
const limiters: RateLimiter[] = [];
test.after.always(() => {
  for (const limiter of limiters) limiter.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

async function appWith(options: RateLimitOptions) {
  const limiter = rateLimit(options);
  limiters.push(limiter);
  const app = express();
  app.use((req, _res, next) => {
    const subject = req.get('x-test-subject');
    if (subject) req.auth = { subject, scopes: [] };
    next();
  });
  app.use(limiter);
  app.use((_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, limiter };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/** A GET over a fresh connection, from `localAddress` when given (the loopback is all of 127.0.0.0/8). */
function get(port: number, headers: Record<string, string> = {}, localAddress?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/orders', headers, localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function burst(count: number, send: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < count; i++) answers.push(await send());
  return answers;
}

const as = (subject: string) => ({ 'x-test-subject': subject });

test('a burst of capacity + 1 gets capacity answers, then 429 RATE_LIMITED with Retry-After and the draft-10 fields', async (t) => {
  const { port } = await appWith({ capacity: 3, refillPerSecond: 0.5 });
  const answers = await burst(4, () => get(port, as('alice')));
  t.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 200, 429],
  );
  t.deepEqual(
    answers.map((a) => a.headers['ratelimit-policy']),
    Array(4).fill('"default";q=3;w=6'),
  );
  t.deepEqual(
    answers.map((a) => a.headers.ratelimit),
    ['"default";r=2;t=2', '"default";r=1;t=2', '"default";r=0;t=2', '"default";r=0;t=2'],
  );
  const refused = answers[3]!;
  t.is(refused.headers['retry-after'], '2');
  t.regex(refused.headers['content-type'] ?? '', /^application\/json/);
  t.deepEqual(refused.body, { error: { code: 'RATE_LIMITED', message: 'too many requests; try again in 2 s' } });
  t.is(answers[0]!.headers['retry-after'], undefined, 'only a refusal says when to retry');
});

test('Retry-After is at least 1 s even when the next token is due sooner', async (t) => {
  const { port } = await appWith({ capacity: 1, refillPerSecond: 4 });
  const answers = await burst(2, () => get(port, as('alice')));
  t.is(answers[1]!.status, 429);
  t.is(answers[1]!.headers['retry-after'], '1');
});

test('each subject has its own bucket', async (t) => {
  const { port } = await appWith({ capacity: 2, refillPerSecond: 0.1 });
  t.deepEqual(
    (await burst(3, () => get(port, as('alice')))).map((a) => a.status),
    [200, 200, 429],
  );
  t.deepEqual(
    (await burst(3, () => get(port, as('bob')))).map((a) => a.status),
    [200, 200, 429],
  );
});

test('callers without a token are keyed by the socket address, and X-Forwarded-For is not believed', async (t) => {
  const { port } = await appWith({ capacity: 2, refillPerSecond: 0.1 });
  const spoofing = (i: number) => get(port, { 'x-forwarded-for': `10.0.0.${i}` }, '127.0.0.2');
  const fromTwo = [await spoofing(1), await spoofing(2), await spoofing(3)];
  t.deepEqual(
    fromTwo.map((a) => a.status),
    [200, 200, 429],
  );
  t.deepEqual(
    (await burst(3, () => get(port, {}, '127.0.0.3'))).map((a) => a.status),
    [200, 200, 429],
  );
  t.is((await get(port, as('carol'), '127.0.0.2')).status, 200, 'a verified subject has its own bucket, whatever its address');
});

test('with trusted proxy hops, the client is the address that proxy appended to X-Forwarded-For', async (t) => {
  const { port } = await appWith({ capacity: 1, refillPerSecond: 0.1, trustedProxyHops: 1 });
  // What the client wrote (the left entries) does not matter; what the one trusted proxy appended does.
  t.is((await get(port, { 'x-forwarded-for': 'forged, 203.0.113.7' })).status, 200);
  t.is((await get(port, { 'x-forwarded-for': 'other-forgery, 203.0.113.7' })).status, 429);
  t.is((await get(port, { 'x-forwarded-for': '203.0.113.8' })).status, 200);
});

test('after the wait Retry-After gives, the next request passes', async (t) => {
  const { port } = await appWith({ capacity: 1, refillPerSecond: 2 });
  t.is((await get(port, as('alice'))).status, 200);
  const refused = await get(port, as('alice'));
  t.is(refused.status, 429);
  await sleep(Number(refused.headers['retry-after']) * 1000);
  const again = await get(port, as('alice'));
  t.is(again.status, 200);
  t.is(again.headers.ratelimit, '"default";r=0;t=1');
});

test('setLimits applies live to new and existing buckets, and what a client spent stays spent', async (t) => {
  const { port, limiter } = await appWith({ capacity: 2, refillPerSecond: 0.1 });
  t.deepEqual(
    (await burst(3, () => get(port, as('alice')))).map((a) => a.status),
    [200, 200, 429],
  );

  limiter.setLimits(5, 0.1);
  t.deepEqual(limiter.limits(), { capacity: 5, refillPerSecond: 0.1 });
  // Alice spent 2 of her burst: 3 of the new 5 are left.
  const alice = await burst(4, () => get(port, as('alice')));
  t.deepEqual(
    alice.map((a) => a.status),
    [200, 200, 200, 429],
  );
  t.is(alice[0]!.headers['ratelimit-policy'], '"default";q=5;w=50');
  t.deepEqual(
    (await burst(6, () => get(port, as('bob')))).map((a) => a.status),
    [200, 200, 200, 200, 200, 429],
  );

  limiter.setLimits(1, 0.1);
  t.deepEqual(
    (await burst(2, () => get(port, as('carol')))).map((a) => a.status),
    [200, 429],
  );
  t.throws(() => limiter.setLimits(0, 1));
  t.throws(() => limiter.setLimits(1, 0));
  t.deepEqual(limiter.limits(), { capacity: 1, refillPerSecond: 0.1 }, 'refused limits change nothing');
});

test('the number of tracked keys is capped, and buckets that filled up again are forgotten', async (t) => {
  const { port, limiter } = await appWith({ capacity: 1, refillPerSecond: 100, maxKeys: 3, sweepIntervalMs: 20 });
  for (const subject of ['a', 'b', 'c', 'd', 'e']) t.is((await get(port, as(subject))).status, 200);
  t.true(limiter.trackedKeys() <= 3);
  const deadline = Date.now() + 5000;
  while (limiter.trackedKeys() > 0 && Date.now() < deadline) await sleep(20);
  t.is(limiter.trackedKeys(), 0);
});

test('limits that are not a positive capacity and rate are refused when the middleware is made', (t) => {
  t.throws(() => rateLimit({ capacity: 0, refillPerSecond: 1 }));
  t.throws(() => rateLimit({ capacity: 1.5, refillPerSecond: 1 }));
  t.throws(() => rateLimit({ capacity: 1, refillPerSecond: -1 }));
});
