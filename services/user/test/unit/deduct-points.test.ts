import test from 'ava';
import { decideDeduction, deductionRecord } from '../../src/domain/deduct-points.js';

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

test('a deduction is recorded as DEDUCTED with the amount taken', (t) => {
  const stock = { orderId: 'o1', userId: 'u1', amount: 30 };
  t.deepEqual(deductionRecord(stock, decideDeduction(user, 30)), { ...stock, status: 'DEDUCTED', reason: null });
});

test('a refusal is recorded too, with its reason and the amount it refused', (t) => {
  const stock = { orderId: 'o2', userId: 'u1', amount: 101 };
  t.deepEqual(deductionRecord(stock, decideDeduction(user, 101)), { ...stock, status: 'REFUSED', reason: 'INSUFFICIENT_POINTS' });
});
