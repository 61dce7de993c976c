import test from 'ava';
import { AppError, describeError, isRetriable } from '../../src/index.js';

test('an AppError says itself whether it is retriable, and defaults to not', (t) => {
  t.true(isRetriable(new AppError('X', 'x', { retriable: true })));
  t.false(isRetriable(new AppError('X', 'x')));
  t.is(new AppError('X', 'x').status, 500);
});

test('deadlocks, lock timeouts and lost connections are retriable; constraint violations are not', (t) => {
  t.true(isRetriable(Object.assign(new Error('deadlock'), { errno: 1213 })));
  t.true(isRetriable(Object.assign(new Error('lock wait'), { errno: 1205 })));
  t.true(isRetriable(Object.assign(new Error('gone'), { code: 'PROTOCOL_CONNECTION_LOST' })));
  t.true(isRetriable(Object.assign(new Error('pool'), { name: 'KnexTimeoutError' })));
  t.false(isRetriable(Object.assign(new Error('dup'), { errno: 1062 })));
  t.false(isRetriable(Object.assign(new Error('fk'), { errno: 1452 })));
});

test('HTTP 5xx and 429 from a dependency are retriable, 4xx are not; causes are followed', (t) => {
  t.true(isRetriable({ status: 503 }));
  t.true(isRetriable({ status: 429 }));
  t.false(isRetriable({ status: 404 }));
  t.true(isRetriable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })));
  t.false(isRetriable('a string'));
  t.false(isRetriable(undefined));
});

test('describeError gives a code and a message for anything thrown', (t) => {
  t.deepEqual(describeError(new AppError('OUT_OF_STOCK', 'no')), { code: 'OUT_OF_STOCK', message: 'no' });
  t.deepEqual(describeError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), {
    code: 'ECONNREFUSED',
    message: 'refused',
  });
  t.deepEqual(describeError(new TypeError('bad')), { code: 'TypeError', message: 'bad' });
  t.deepEqual(describeError(42), { code: 'UNKNOWN', message: '42' });
});
