import test from 'ava';
import { RoundRobin } from '../../src/balancer.js';

test('requests go to every instance in turn', (t) => {
  const balancer = new RoundRobin(['a', 'b', 'c'], 1000);
  t.deepEqual([1, 2, 3, 4, 5, 6].map(() => balancer.pick()), ['a', 'b', 'c', 'a', 'b', 'c']);
});

test('an instance that refused a connection is skipped until its pause is over', (t) => {
  let now = 0;
  const balancer = new RoundRobin(['a', 'b'], 1000, () => now);
  balancer.markDown('a');
  t.deepEqual([balancer.pick(), balancer.pick()], ['b', 'b']);
  now = 1000;
  t.deepEqual([balancer.pick(), balancer.pick()].sort(), ['a', 'b']);
});

test('when every instance is down there is no target', (t) => {
  const balancer = new RoundRobin(['a'], 1000, () => 0);
  balancer.markDown('a');
  t.is(balancer.pick(), undefined);
});
