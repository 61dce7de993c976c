import test from 'ava';
import { decideDeduction } from '../../src/domain/deduct-points.js';

const user = { id: 'u1', name: 'Ada', points: 100 };

test('a user with enough points pays, down to exactly zero', (t) => {
  t.deepEqual(decideDeduction(user, 30), { deducted: true });
  t.deepEqual(decideDeduction(user, 100), { deducted: true });
});

test('one point short is INSUFFICIENT_POINTS', (t) => {
  t.deepEqual(decideDeduction(user, 101), { deducted: false, reason: 'INSUFFICIENT_POINTS' });
});

test('an unknown user is UNKNOWN_USER', (t) => {
  t.deepEqual(decideDeduction(undefined, 1), { deducted: false, reason: 'UNKNOWN_USER' });
});
