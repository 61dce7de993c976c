import test from 'ava';
import { flatten, keySegments, mergeSources, settingsLayer, unflatten } from '../../src/index.js';

test('dotted keys with list indices become nested objects and arrays, and back', (t) => {
  const flat = { 'a.b.c': 1, 'a.list[0]': 'x', 'a.list[1].name': 'y', 'a.list[1].on': true, top: null };
  const nested = unflatten(new Map(Object.entries(flat)));
  t.deepEqual(nested, { a: { b: { c: 1 }, list: ['x', { name: 'y', on: true }] }, top: null });
  t.deepEqual(flatten(nested), flat);
  t.deepEqual(keySegments('a.list[1].name'), ['a', 'list', 1, 'name']);
});

test('sources listed most specific first: the first source with a key wins; a list comes whole from one source', (t) => {
  const merged = mergeSources([
    new Map(Object.entries({ 'saga.maxWaitSeconds': 45, 'hosts[0]': 'b' })),
    new Map(Object.entries({ 'saga.maxWaitSeconds': 60, 'saga.outcomePollMs': 250, 'hosts[0]': 'a', 'hosts[1]': 'c' })),
  ]);
  t.deepEqual(Object.fromEntries(merged), { 'saga.maxWaitSeconds': 45, 'hosts[0]': 'b', 'saga.outcomePollMs': 250 });
});

/** The order service's environment as the config service answers it, with these sources. */
const answer = (propertySources: Array<{ name: string; source: Record<string, unknown> }>) => ({
  name: 'order',
  profiles: ['default'],
  label: 'main',
  version: 'abc',
  state: null,
  propertySources,
});

test('a config service answer becomes one nested node-config layer', (t) => {
  const layer = settingsLayer(
    answer([
      { name: 'order.yml', source: { 'saga.maxWaitSeconds': 45 } },
      { name: 'application.yml', source: { 'saga.maxWaitSeconds': 60, 'log.level': 'info' } },
    ]),
  );
  t.deepEqual(layer, { saga: { maxWaitSeconds: 45 }, log: { level: 'info' } });
});

test("a key of a config answer that would reach Object's prototype is dropped from the layer", (t) => {
  const layer = settingsLayer(
    answer([{ name: 'order.yml', source: { '__proto__.polluted': true, 'a.constructor.x': 1, 'log.level': 'warn' } }]),
  );
  t.deepEqual(JSON.parse(JSON.stringify(layer)), { log: { level: 'warn' } });
  t.is(({} as { polluted?: unknown }).polluted, undefined);
});
