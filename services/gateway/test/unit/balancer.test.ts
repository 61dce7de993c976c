import test from 'ava';
import { LoadBalancer } from '../../src/balancer.js';

const outlier = { consecutiveFailures: 3, ejectionMs: 1000 };

test('requests go to every instance in turn', (t) => {
  const balancer = new LoadBalancer(() => ['a', 'b', 'c'], outlier);
  t.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => balancer.pick()),
    ['a', 'b', 'c', 'a', 'b', 'c'],
  );
});

test('an instance that refused a connection is ejected at once and comes back after the cool-off', (t) => {
  let now = 0;
  const balancer = new LoadBalancer(
    () => ['a', 'b'],
    outlier,
    () => now,
  );
  balancer.failed('a', true);
  t.deepEqual([balancer.pick(), balancer.pick()], ['b', 'b']);
  now = 1000;
  t.deepEqual([balancer.pick(), balancer.pick()].sort(), ['a', 'b']);
});

test('other failures eject an instance only after the configured number in a row', (t) => {
  const balancer = new LoadBalancer(
    () => ['a', 'b'],
    outlier,
    () => 0,
  );
  balancer.failed('a', false);
  balancer.failed('a', false);
  balancer.succeeded('a');
  balancer.failed('a', false);
  balancer.failed('a', false);
  t.false(balancer.isEjected('a'), 'a success in between starts the count again');
  balancer.failed('a', false);
  t.true(balancer.isEjected('a'));
  t.deepEqual([balancer.pick(), balancer.pick()], ['b', 'b']);
});

test('the instance list is read on every pick: a new instance gets traffic, a gone one none', (t) => {
  let listed = ['a'];
  const balancer = new LoadBalancer(() => listed, outlier);
  t.is(balancer.pick(), 'a');
  listed = ['a', 'b'];
  t.deepEqual([balancer.pick(), balancer.pick()].sort(), ['a', 'b']);
  listed = ['b'];
  t.deepEqual([balancer.pick(), balancer.pick()], ['b', 'b']);
});

test('instances already tried are skipped; with every instance ejected or tried there is no target', (t) => {
  const balancer = new LoadBalancer(
    () => ['a', 'b'],
    outlier,
    () => 0,
  );
  t.is(balancer.pick(new Set(['a'])), 'b');
  balancer.failed('a', true);
  t.is(balancer.pick(new Set(['b'])), undefined);
  t.is(new LoadBalancer(() => [], outlier).pick(), undefined);
});
