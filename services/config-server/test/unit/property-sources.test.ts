import test from 'ava';
import {
  ConfigFileError,
  fileOrder,
  flatten,
  keySegments,
  mergeSources,
  namedSources,
  parseConfigFile,
  parseProfileExpression,
  parseProperties,
  renderProperties,
  renderYaml,
  unflatten,
  type FlatSource,
} from '../../src/property-sources.js';

const yaml = (text: string) => parseConfigFile('x.yml', text);
const flat = (entries: Record<string, string | number | boolean | null>): FlatSource => new Map(Object.entries(entries));

test('nested maps flatten to dotted keys, in file order', (t) => {
  const parsed = yaml('server:\n  port: 8080\n  address: 0.0.0.0\nspring:\n  datasource:\n    url: jdbc:x\n');
  t.deepEqual(
    [...parsed.documents[0]!.source],
    [
      ['server.port', 8080],
      ['server.address', '0.0.0.0'],
      ['spring.datasource.url', 'jdbc:x'],
    ],
  );
});

test('lists flatten to indices, lists of maps to index then key', (t) => {
  const parsed = yaml(
    'a:\n  b:\n    - x\n    - y\n  routes:\n    - id: one\n      uri: http://one\n    - id: two\n      filters: [f1, f2]\n',
  );
  t.deepEqual(Object.fromEntries(parsed.documents[0]!.source), {
    'a.b[0]': 'x',
    'a.b[1]': 'y',
    'a.routes[0].id': 'one',
    'a.routes[0].uri': 'http://one',
    'a.routes[1].id': 'two',
    'a.routes[1].filters[0]': 'f1',
    'a.routes[1].filters[1]': 'f2',
  });
});

test('scalars keep their YAML types: numbers, booleans, strings, null', (t) => {
  const parsed = yaml('i: 42\nf: 1.5\nb: true\ns: "42"\nn: null\ntilde: ~\nyes: yes\nhex: 0x10\ninf: .inf\n');
  t.deepEqual(Object.fromEntries(parsed.documents[0]!.source), {
    i: 42,
    f: 1.5,
    b: true,
    s: '42',
    n: null,
    tilde: null,
    // YAML 1.2: `yes` is a string
    yes: 'yes',
    hex: 16,
    inf: 'Infinity',
  });
});

test('Spring key rules: empty list is "", empty map leaves nothing, [bracket] keys join without a dot, non-string keys are bracketed', (t) => {
  const parsed = yaml('empty: []\nnone: {}\nroutes:\n  "[/api/**]": gw\nports:\n  8080: http\n');
  t.deepEqual(Object.fromEntries(parsed.documents[0]!.source), { empty: '', 'routes[/api/**]': 'gw', 'ports[8080]': 'http' });
});

test('YAML merge keys and anchors are resolved; a key __proto__ is a plain key', (t) => {
  const parsed = yaml('base: &b\n  x: 1\nderived:\n  <<: *b\n  y: 2\n__proto__:\n  polluted: true\n');
  t.deepEqual(Object.fromEntries(parsed.documents[0]!.source), { 'base.x': 1, 'derived.x': 1, 'derived.y': 2, '__proto__.polluted': true });
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

test('bad YAML, duplicate keys and a non-mapping top level are ConfigFileErrors', (t) => {
  t.throws(() => yaml('a: [1, 2\n'), { instanceOf: ConfigFileError });
  t.throws(() => yaml('a: 1\na: 2\n'), { instanceOf: ConfigFileError });
  t.throws(() => yaml('- 1\n- 2\n'), { instanceOf: ConfigFileError, message: /not a mapping/ });
  t.throws(() => parseConfigFile('x.json', '{"a": '), { instanceOf: ConfigFileError, message: /JSON/ });
});

test('multi-document YAML: a document per source, later first; on-profile documents only for their profiles', (t) => {
  const parsed = yaml(
    'a: 1\n---\nspring.config.activate.on-profile: test\na: 2\n---\nspring:\n  config:\n    activate:\n      on-profile: "!test"\na: 3\n',
  );
  t.is(parsed.documentCount, 3);
  const forTest = namedSources([{ file: 'x.yml', name: 'repo/x.yml', parsed }], ['test']);
  t.deepEqual(
    forTest.map((s) => s.name),
    ['repo/x.yml (document #1)', 'repo/x.yml (document #0)'],
  );
  const forDefault = namedSources([{ file: 'x.yml', name: 'repo/x.yml', parsed }], ['default']);
  t.deepEqual(
    forDefault.map((s) => s.source.get('a')),
    [3, 1],
  );
});

test('profile expressions: names, !, &, | and parentheses', (t) => {
  const matches = (expression: string, ...active: string[]) => parseProfileExpression(expression)(new Set(active));
  t.true(matches('prod', 'prod'));
  t.false(matches('!prod', 'prod'));
  t.true(matches('prod & (eu | us)', 'prod', 'us'));
  t.false(matches('prod & (eu | us)', 'prod'));
  t.throws(() => parseProfileExpression('prod &'), { instanceOf: ConfigFileError });
  t.throws(() => parseProfileExpression('(prod'), { instanceOf: ConfigFileError });
});

test('.properties: separators, comments, continuations and escapes as java.util.Properties reads them', (t) => {
  const source = parseProperties(
    [
      '# comment',
      '! also a comment',
      'a=1',
      'b : two words ',
      'c three',
      '   d=indented',
      'long=first \\',
      '     second',
      'key\\ with\\ spaces=x',
      'esc=tab\\there\\u00e9\\\\',
      'empty=',
      'list[0]=p',
      'a=again',
    ].join('\n'),
  );
  t.deepEqual(Object.fromEntries(source), {
    a: 'again',
    b: 'two words ',
    c: 'three',
    d: 'indented',
    long: 'first second',
    'key with spaces': 'x',
    esc: 'tab\there\u00e9\\',
    empty: '',
    'list[0]': 'p',
  });
  // A key given twice keeps its first place.
  t.is([...source.keys()][0], 'a');
  t.throws(() => parseProperties('bad=\\u12'), { instanceOf: ConfigFileError });
});

test('file order: {app}-{profile} last profile first, {app}, application-{profile}, application; only existing files, each once', (t) => {
  const available = new Set([
    'application.yml',
    'application.properties',
    'application-dev.yml',
    'application-test.yml',
    'order.yml',
    'order-test.yml',
    'order-dev.properties',
    'order-dev.yml',
    'other.yml',
  ]);
  t.deepEqual(fileOrder('order', ['test', 'dev'], available), [
    'order-dev.properties',
    'order-dev.yml',
    'order-test.yml',
    'order.yml',
    'application-dev.yml',
    'application-test.yml',
    'application.properties',
    'application.yml',
  ]);
  t.deepEqual(fileOrder('application', ['test'], available), ['application-test.yml', 'application.properties', 'application.yml']);
  t.deepEqual(fileOrder('unknown', ['default'], available), ['application.properties', 'application.yml']);
});

test('merge: more specific wins, maps merge, lists are replaced whole, scalar/map conflicts go to the more specific', (t) => {
  const general = flat({ 'a.x': 1, 'a.y': 2, 'list[0]': 'a', 'list[1]': 'b', 'list[2]': 'c', s: 'plain', 'm.k': 'v' });
  const specific = flat({ 'a.y': 20, 'list[0]': 'z', 's.nested': true, m: 'now plain' });
  const merged = mergeSources([specific, general]);
  t.deepEqual(Object.fromEntries(merged), { 'a.x': 1, 'a.y': 20, 'list[0]': 'z', 's.nested': true, m: 'now plain' });
  t.deepEqual(unflatten(merged), { a: { x: 1, y: 20 }, list: ['z'], s: { nested: true }, m: 'now plain' });
});

test('unflatten turns flat keys back into the document, and flatten(unflatten(x)) gives x back', (t) => {
  const document = {
    server: { port: 8080, ssl: { enabled: false } },
    routes: [
      { id: 'one', predicates: ['Path=/a/**', 'Method=GET'] },
      { id: 'two', meta: { weight: 1.5, note: null } },
    ],
    '[/special.key]': 'kept',
    matrix: [
      [1, 2],
      [3, 4],
    ],
  };
  const flattened = flatten(document);
  t.is(flattened.get('matrix[1][0]'), 3);
  t.is(flattened.get('routes[1].meta.note'), null);
  t.deepEqual(unflatten(flattened), document);
  t.deepEqual([...flatten(unflatten(flattened))], [...flattened]);
});

test('unflatten: sparse or mixed indices make a map with [n] keys; __proto__ stays a plain key', (t) => {
  const document = unflatten(flat({ 'ports[8080]': 'http', 'ports[8443]': 'https', 'mixed[0]': 'a', 'mixed.name': 'b', '__proto__.x': 1 }));
  // Compared as JSON text: in an object literal, `__proto__:` would set the prototype.
  t.is(JSON.stringify(document), '{"ports":{"[8080]":"http","[8443]":"https"},"mixed":{"[0]":"a","name":"b"},"__proto__":{"x":1}}');
  t.is(Object.getPrototypeOf(document), Object.prototype);
  t.deepEqual(keySegments('a.b[0].c'), ['a', 'b', 0, 'c']);
  t.deepEqual(keySegments('routes[/api/**].uri'), ['routes', '[/api/**]', 'uri']);
});

test('properties rendering: key=value lines sorted by key, escaped', (t) => {
  const text = renderProperties(flat({ 'b.key': 'two', a: 1, 'c[0]': true, 'key with=sign': ' lead # x', n: null, nl: 'x\ny' }));
  t.is(text, ['a=1', 'b.key=two', 'c[0]=true', 'key\\ with\\=sign=\\ lead \\# x', 'n=', 'nl=x\\ny', ''].join('\n'));
  // What it writes reads back the same (as strings).
  t.deepEqual(Object.fromEntries(parseProperties(text)), {
    a: '1',
    'b.key': 'two',
    'c[0]': 'true',
    'key with=sign': ' lead # x',
    n: '',
    nl: 'x\ny',
  });
});

test('YAML rendering keeps types and quotes strings that would read as something else', (t) => {
  const text = renderYaml(unflatten(flat({ 'a.b': 1, 'a.c': 'true', 'a.d': true, 'list[0]': 'x' })));
  t.is(text, 'a:\n  b: 1\n  c: "true"\n  d: true\nlist:\n  - x\n');
});
