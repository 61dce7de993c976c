import test from 'ava';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ClockGuard, baseServiceSettings, classifySkew, estimateSkew, type ClockSample } from '../../src/index.js';

const thresholds = { warnSeconds: 2, downSeconds: 8 };

test('the skew is the server time against the midpoint of the round trip, known to half of it', (t) => {
  // Sent at 1000, back at 1100: the server read its clock somewhere in [1000, 1100], estimated at 1050.
  t.deepEqual(estimateSkew({ sentAt: 1000, receivedAt: 1100, serverAt: 1050 }, 500), {
    usable: true,
    skewMs: 0,
    uncertaintyMs: 50,
    roundTripMs: 100,
  });
  // The database's clock 3 s ahead of this one: a positive skew (this clock is behind).
  t.like(estimateSkew({ sentAt: 1_700_000_000_000, receivedAt: 1_700_000_000_010, serverAt: 1_700_000_003_005 }, 500), {
    usable: true,
    skewMs: 3000,
    uncertaintyMs: 5,
  });
  // This clock 9.5 s ahead of the database's: negative.
  t.like(estimateSkew({ sentAt: 20_000, receivedAt: 20_000, serverAt: 10_500 }, 500), { usable: true, skewMs: -9500, uncertaintyMs: 0 });
});

test('a round trip too long to tell the skew, or one that runs backwards, is discarded', (t) => {
  t.like(estimateSkew({ sentAt: 0, receivedAt: 500, serverAt: 250 }, 500), { usable: true, uncertaintyMs: 250 });
  const slow = estimateSkew({ sentAt: 0, receivedAt: 501, serverAt: 250 }, 500);
  t.like(slow, { usable: false, roundTripMs: 501 });
  t.regex(slow.usable ? '' : slow.reason, /501 ms, over 500 ms/);
  t.like(estimateSkew({ sentAt: 100, receivedAt: 90, serverAt: 95 }, 500), { usable: false });
  t.like(estimateSkew({ sentAt: 0, receivedAt: 10, serverAt: Number.NaN }, 500), { usable: false });
});

test('within 2 s either way is OK, beyond it WARN, beyond 8 s DOWN', (t) => {
  const states = [0, 1999, -2000, 2001, -2500, 7999, 8000, 8001, -9000, 300_000].map((ms) => classifySkew(ms, thresholds));
  t.deepEqual(states, ['OK', 'OK', 'OK', 'WARN', 'WARN', 'WARN', 'WARN', 'DOWN', 'DOWN', 'DOWN']);
});

test('the clock settings need a warning threshold below the DOWN one', (t) => {
  const clock = baseServiceSettings.shape.clock;
  t.true(clock.safeParse({ intervalMs: 60_000, warnSeconds: 2, downSeconds: 8, maxRoundTripMs: 500 }).success);
  const result = clock.safeParse({ intervalMs: 60_000, warnSeconds: 10, downSeconds: 8, maxRoundTripMs: 500 });
  t.false(result.success);
  t.regex(result.error!.issues[0]!.message, /warnSeconds must be below downSeconds/);
});

/** A guard fed the readings of `skews` (seconds, null: a reading too slow to use), its log lines and its registry. */
function guardOver(skews: Array<number | null>) {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'order', instance: 'order-1' });
  let next = 0;
  const read = async (): Promise<ClockSample> => {
    const skew = skews[next++];
    if (skew === undefined) throw new Error('no more readings');
    const sentAt = 1_700_000_000_000 + next * 60_000;
    if (skew === null) return { sentAt, receivedAt: sentAt + 900, serverAt: sentAt + 450 };
    return { sentAt, receivedAt: sentAt + 4, serverAt: sentAt + 2 + skew * 1000 };
  };
  const guard = new ClockGuard({
    ...thresholds,
    intervalMs: 60_000,
    maxRoundTripMs: 500,
    read,
    logger: pino({ level: 'info' }, sink),
    registry,
  });
  const levels = () => lines.map((l) => `${l.level >= 40 ? 'warn' : 'info'}: ${l.msg}`);
  return { guard, registry, levels };
}

test('a skew is logged once per change of state, and /health is DOWN beyond 8 s only', async (t) => {
  const { guard, levels } = guardOver([0.01, 3, 3.2, 9, 9.1, -2.5, 0.2, 0.1]);
  const statuses: string[] = [];
  for (let i = 0; i < 8; i++) {
    await guard.sample();
    const result = await guard.check.check();
    statuses.push(result.status);
  }
  t.deepEqual(statuses, ['UP', 'UP', 'UP', 'DOWN', 'DOWN', 'UP', 'UP', 'UP']);
  t.deepEqual(
    levels().map((line) => line.replace(/\(±.*$/, '')),
    [
      "info: clock in step with the database's: this clock is 0.010 s behind the database's ",
      "warn: clock skew over 2 s: this clock is 3.000 s behind the database's ",
      "warn: clock skew over 8 s: this clock is 9.000 s behind the database's ",
      "warn: clock skew over 2 s: this clock is 2.500 s ahead of the database's ",
      "info: clock in step with the database's: this clock is 0.200 s behind the database's ",
    ],
  );
});

test('the clock check is UP with the skew as its reason over 2 s, DOWN with it over 8 s', async (t) => {
  const { guard } = guardOver([-3, -8.5]);
  t.deepEqual(await guard.check.check(), { status: 'UP', reason: 'not measured yet' });
  await guard.sample();
  t.deepEqual(await guard.check.check(), {
    status: 'UP',
    reason: "this clock is 3.000 s ahead of the database's (±0.002 s), over 2 s",
  });
  await guard.sample();
  t.deepEqual(await guard.check.check(), {
    status: 'DOWN',
    reason: "this clock is 8.500 s ahead of the database's (±0.002 s), over 8 s",
  });
});

test('a discarded or failed reading is logged and changes nothing: the last usable one stands', async (t) => {
  const { guard, registry, levels } = guardOver([null, 9, null]);
  await guard.sample();
  t.is(registry.getSingleMetric('clock_skew_seconds'), undefined, 'no skew exported before one is measured');
  t.deepEqual(await guard.check.check(), { status: 'UP', reason: 'not measured yet' });
  await guard.sample();
  await guard.sample();
  await guard.sample(); // no more readings: the read fails
  t.is((await guard.check.check()).status, 'DOWN');
  t.deepEqual(
    levels().map((line) => line.split(':')[0]! + ':' + line.split(':')[1]!),
    [
      'info: clock reading discarded',
      'warn: clock skew over 8 s',
      'info: clock reading discarded',
      "warn: could not read the database's clock; trying again at the next interval",
    ],
  );
  t.regex(await registry.metrics(), /^clock_skew_seconds\{service="order",instance="order-1"\} 9$/m);
});
