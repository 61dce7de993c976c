import test from 'ava';
import { AppError } from '@cdc-outbox-saga/platform';
import { parseApplication, parseFileRequest, parseLabel, parseProfiles, parseSearchPath } from '../../src/names.js';

const rejects = (t: import('ava').ExecutionContext, parse: (value: string) => unknown, value: string) =>
  t.throws(() => parse(value), { instanceOf: AppError, message: /invalid/ }, `${JSON.stringify(value)} should be refused`);

test('ordinary names pass', (t) => {
  t.is(parseApplication('order-service_2.v1'), 'order-service_2.v1');
  t.deepEqual(parseProfiles('test'), ['test']);
  t.deepEqual(parseProfiles('test,mysql'), ['test', 'mysql']);
});

test('labels: (_) stands for /, and tags and commit ids pass', (t) => {
  t.is(parseLabel('main'), 'main');
  t.is(parseLabel('feature(_)x'), 'feature/x');
  t.is(parseLabel('release(_)1.2(_)hotfix'), 'release/1.2/hotfix');
  t.is(parseLabel('v1.0.0'), 'v1.0.0');
  t.is(parseLabel('0123abc'), '0123abc');
});

test('traversal attempts and odd characters are refused in every name', (t) => {
  const bad = [
    '..',
    '.',
    '../etc',
    'a/../b',
    '/etc/passwd',
    'a\\b',
    '..\\..\\windows',
    'a\0b',
    '%2e%2e',
    '%2F',
    '.hidden',
    'a..b',
    '',
    'a b',
    'a:b',
    'a%00',
    'x'.repeat(201),
  ];
  for (const value of bad) {
    rejects(t, parseApplication, value);
    rejects(t, parseProfiles, value);
    rejects(t, parseLabel, value);
  }
});

test('labels: an encoded / is refused, as are empty parts, ".lock" and a trailing "."', (t) => {
  for (const value of [
    'feature/x',
    '(_)main',
    'main(_)',
    'a(_)(_)b',
    'a(_)..(_)b',
    'main.lock',
    'main.',
    'a(_).git',
    '(_)etc(_)passwd',
    'a(b',
  ])
    rejects(t, parseLabel, value);
});

test('profiles: every profile of a list is checked', (t) => {
  for (const value of ['test,', ',test', 'test,..', 'test,a/b']) rejects(t, parseProfiles, value);
});

test('search paths: relative folders only', (t) => {
  t.is(parseSearchPath(''), '');
  t.is(parseSearchPath('config-repo'), 'config-repo');
  t.is(parseSearchPath('/conf/services/'), 'conf/services');
  for (const value of ['../x', 'a/../b', 'a//b', 'a\\b', '.git']) rejects(t, parseSearchPath, value);
});

test('file requests split at the last hyphen with something on both sides', (t) => {
  t.deepEqual(parseFileRequest('order-test.yml'), { application: 'order', profiles: ['test'], extension: 'yml' });
  t.deepEqual(parseFileRequest('order-service-default.properties'), {
    application: 'order-service',
    profiles: ['default'],
    extension: 'properties',
  });
  t.deepEqual(parseFileRequest('order-test,dev.json'), { application: 'order', profiles: ['test', 'dev'], extension: 'json' });
  t.is(parseFileRequest('order.yml'), undefined);
  t.is(parseFileRequest('-test.yml'), undefined);
  t.is(parseFileRequest('order-test.txt'), undefined);
  t.throws(() => parseFileRequest('..-test.yml'), { instanceOf: AppError });
});
