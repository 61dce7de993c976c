import test from 'ava';
import { AppError, describeError, isDuplicateKey, isRetriable } from '../../src/index.js';

test('an AppError says itself whether it is retriable, and defaults to not', (t) => {
  t.true(isRetriable(new AppError('X', 'x', { retriable: true })));
  t.false(isRetriable(new AppError('X', 'x')));
  t.is(new AppError('X', 'x').status, 500);
});

test('database errors are retriable unless they are about the data itself', (t) => {
  t.true(isRetriable(Object.assign(new Error('deadlock'), { errno: 1213 })));
  t.true(isRetriable(Object.assign(new Error('lock wait'), { errno: 1205 })));
  t.true(isRetriable(Object.assign(new Error('gone'), { code: 'PROTOCOL_CONNECTION_LOST' })));
  t.true(isRetriable(Object.assign(new Error('pool'), { name: 'KnexTimeoutError' })));
  // A failover's passing faults, which used to be dead-lettered as "unknown".
  for (const errno of [1290, 1836, 1927, 4031, 1317]) t.true(isRetriable(Object.assign(new Error('passing'), { errno })), String(errno));
  t.false(isRetriable(Object.assign(new Error('dup'), { errno: 1062 })));
  t.false(isRetriable(Object.assign(new Error('fk'), { errno: 1452 })));
  t.false(isRetriable(Object.assign(new Error('too long'), { errno: 1406 })));
});

test('a dependency answering 5xx, 429, 408 or 404 is retried, other 4xx are not; unknown errors are retried; causes are followed', (t) => {
  t.true(isRetriable({ status: 503 }));
  t.true(isRetriable({ status: 429 }));
  t.true(isRetriable({ status: 404 }), 'a registry replaying its journal answers 404 for a while');
  t.false(isRetriable({ status: 409 }));
  t.false(isRetriable({ status: 400 }));
  t.true(isRetriable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })));
  t.false(isRetriable(new Error('wrapped', { cause: new AppError('INVALID_EVENT', 'x') })));
  t.true(isRetriable(new TypeError('never seen before')));
  t.true(isRetriable('a string'));
  t.true(isRetriable(undefined));
});

test('describeError gives a code and a message for anything thrown', (t) => {
  t.deepEqual(describeError(new AppError('OUT_OF_STOCK', 'no')), { code: 'OUT_OF_STOCK', message: 'no' });
  t.deepEqual(describeError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), {
    code: 'ECONNREFUSED',
    message: 'refused',
  });
  t.deepEqual(describeError(new TypeError('bad')), { code: 'TypeError', message: 'bad' });
  // A database error as knex throws it: the statement first, then the server's message.
  const fromKnex = Object.assign(new Error('insert into `reservations` (`amount`) values (20) - CONSTRAINT `amount_cap` failed'), {
    code: 'ER_CONSTRAINT_FAILED',
    errno: 4025,
    sqlMessage: 'CONSTRAINT `amount_cap` failed for `product_db`.`reservations`',
  });
  t.deepEqual(describeError(fromKnex), {
    code: 'ER_CONSTRAINT_FAILED',
    message: 'CONSTRAINT `amount_cap` failed for `product_db`.`reservations`',
  });
  t.deepEqual(describeError(42), { code: 'UNKNOWN', message: '42' });
});

test('isDuplicateKey tells a taken key (ER_DUP_ENTRY) from any other error', (t) => {
  t.true(isDuplicateKey(Object.assign(new Error('Duplicate entry'), { errno: 1062, code: 'ER_DUP_ENTRY' })));
  t.false(isDuplicateKey(Object.assign(new Error('lock wait'), { errno: 1205 })));
  t.false(isDuplicateKey(new Error('no errno')));
  t.false(isDuplicateKey(null));
});
