import test from 'ava';
import { newUser, USER_NAME_MAX } from '../../src/http/user-routes.js';

test('a user name is stored trimmed, as it is answered', (t) => {
  t.deepEqual(newUser.parse({ name: ' Ada  Lovelace\u00a0', points: 100 }), { name: 'Ada  Lovelace', points: 100 });
});

test('a user name may be as long as its column, in code points', (t) => {
  t.true(newUser.safeParse({ name: 'ß'.repeat(USER_NAME_MAX), points: 0 }).success);
  t.true(newUser.safeParse({ name: '𝒜'.repeat(USER_NAME_MAX), points: 0 }).success);
  t.false(newUser.safeParse({ name: '𝒜'.repeat(USER_NAME_MAX + 1), points: 0 }).success);
});

test('names with control or format characters, lone surrogates or nothing visible are refused', (t) => {
  for (const name of [
    'Ada\u0007',
    'Ada\u007f',
    'Ada\u0085',
    'Ada\r\nEve',
    'Ada\tEve',
    '\u2066Ada\u2069',
    '\ufeffAda',
    '\u200c\u200d',
    'a\udfffb',
    '\u3000',
  ]) {
    t.false(newUser.safeParse({ name, points: 1 }).success, JSON.stringify(name));
  }
});

test('points are a whole number in range', (t) => {
  for (const points of [-1, 1.5, 1_000_000_000_001, '1', null]) {
    t.false(newUser.safeParse({ name: 'Ada', points }).success, String(points));
  }
  t.true(newUser.safeParse({ name: 'Ada', points: 1_000_000_000_000 }).success);
});
