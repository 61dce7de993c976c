import test from 'ava';
import { childTraceparent, isTraceparent } from '../../src/index.js';

test('a child of a valid traceparent keeps its trace id and flags and gets a new span id', (t) => {
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const child = childTraceparent(parent);
  t.true(isTraceparent(child));
  const [, traceId, spanId, flags] = child.split('-');
  t.is(traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.not(spanId, '00f067aa0ba902b7');
  t.is(flags, '01');
});

test('without a parent, or with an invalid one, a new trace starts', (t) => {
  for (const parent of [undefined, null, '', 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`]) {
    const child = childTraceparent(parent);
    t.true(isTraceparent(child), `${parent} -> ${child}`);
    t.not(child.split('-')[1], '0'.repeat(32));
  }
  t.not(childTraceparent().split('-')[1], childTraceparent().split('-')[1]);
});
