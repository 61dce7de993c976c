import test from 'ava';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import {
  AppError,
  checkJsonText,
  DUPLICATE_KEY,
  idSchema,
  jsonTextProblems,
  NOT_AN_INTEGER_LITERAL,
  parseBody,
  parseId,
  textSchema,
  UNSAFE_INTEGER,
  type InputProblem,
} from '../../src/index.js';

const scan = (text: string, limit?: number) => jsonTextProblems(Buffer.from(text, 'utf8'), limit);
const notInteger = (path: string): InputProblem => ({ path, message: NOT_AN_INTEGER_LITERAL });
const unsafe = (path: string): InputProblem => ({ path, message: UNSAFE_INTEGER });

test('integer literals pass, negative ones and -0 included', (t) => {
  for (const text of [
    '{"points":1}',
    '{"points":0}',
    '{"points":-0}',
    '{"points":-17}',
    '[1,-2,3]',
    '42',
    '-0',
    '{}',
    '[]',
    '',
    '"text"',
    'null',
    'true',
  ]) {
    t.deepEqual(scan(text), [], text);
  }
});

test('a fraction or an exponent is found, however the value parses', (t) => {
  for (const literal of ['5.0', '1e-400', '1E2', '1e+2', '1e2', '-1.5', '0.0', '-0.0', '1.0e0', '1e400', '0e0']) {
    t.deepEqual(scan(`{"points":${literal}}`), [notInteger('points')], literal);
  }
  t.deepEqual(scan('1.5'), [notInteger('')], 'the body itself');
  t.deepEqual(scan('{ "points" :\n\t5.0 }'), [notInteger('points')], 'whitespace around');
});

test('digits, dots and e inside strings are text, not numbers', (t) => {
  t.deepEqual(scan('{"name":"1.5e3 and 2.0 and -0.5","n":1}'), []);
  t.deepEqual(scan('{"1.5e3":1}'), []);
  t.deepEqual(scan('{"name":"Zoë 😀 1.5 ✓","stock":2.5}'), [notInteger('stock')]);
  t.deepEqual(scan('["e", "E", "1e2", 3]'), []);
});

test('escaped quotes and backslashes do not end a string early', (t) => {
  t.deepEqual(scan('{"name":"say \\"1.5\\"","price":2.5}'), [notInteger('price')]);
  t.deepEqual(scan('{"name":"ends in a backslash\\\\","price":2.5}'), [notInteger('price')]);
  t.deepEqual(scan('{"name":"\\\\\\"1.5","price":2}'), [], 'escaped backslash then escaped quote: still inside');
  t.deepEqual(scan('{"name":"\\u0022 2.5 \\u005c","price":3}'), []);
  t.deepEqual(scan('{"q\\"1":1.5}'), [notInteger('q"1')], 'the key as JSON.parse reads it');
  t.deepEqual(scan('{"\\u0070oints":1.5}'), [notInteger('points')]);
});

test('the path names the member and the element, as zod paths are joined', (t) => {
  t.deepEqual(scan('{"userId":"u","items":[{"productId":"p","quantity":1},{"productId":"q","quantity":2.0}]}'), [
    notInteger('items.1.quantity'),
  ]);
  t.deepEqual(scan('[[1,2],[3,4.5]]'), [notInteger('1.1')]);
  t.deepEqual(scan('[[],[[]],{"a":[0,{"b":[1e1]}]}]'), [notInteger('2.a.1.b.0')]);
  t.deepEqual(scan('{"a":{"b":1},"c":1.5,"d":[{"e":[],"f":2.5}]}'), [notInteger('c'), notInteger('d.0.f')]);
  t.deepEqual(scan('{"a":"x","b":"1.5","c":1.5}'), [notInteger('c')], 'a string value is not taken for a key');
});

test('integers beyond Number.MAX_SAFE_INTEGER are found, the largest safe one is not', (t) => {
  for (const literal of ['9007199254740991', '-9007199254740991', '999999999999999', '-99999999999999', '1000000000000']) {
    t.deepEqual(scan(`{"points":${literal}}`), [], literal);
  }
  for (const literal of [
    '9007199254740992',
    '9007199254740993',
    '-9007199254740992',
    '10000000000000000',
    '123456789012345678901234567890',
  ]) {
    t.deepEqual(scan(`{"points":${literal}}`), [unsafe('points')], literal);
  }
});

test('a key repeated in one object is found, in another object it is not', (t) => {
  t.deepEqual(scan('{"points":1,"points":1000000}'), [{ path: 'points', message: DUPLICATE_KEY }]);
  t.deepEqual(scan('{"a":1,"\\u0061":2}'), [{ path: 'a', message: DUPLICATE_KEY }], 'the same key, escaped');
  t.deepEqual(scan('{"items":[{"q":1,"q":2}]}'), [{ path: 'items.0.q', message: DUPLICATE_KEY }]);
  t.deepEqual(scan('{"a":{"a":1},"b":{"a":1}}'), []);
  t.deepEqual(scan('[{"a":1},{"a":1}]'), []);
  t.deepEqual(scan('{"a":"b","b":"a"}'), [], 'values are not keys');
});

test('at most `limit` problems are listed', (t) => {
  const text = JSON.stringify(Array.from({ length: 100 }, (_, i) => i)).replaceAll(',', '.5,');
  t.is(scan(text).length, 20);
  t.is(scan(text, 3).length, 3);
});

test('text that is not JSON never throws', (t) => {
  for (const text of [
    '{"a":"unterminated',
    '"\\',
    '}}]]',
    '-',
    '--1.',
    '{"a" 1.5',
    '[1.',
    'e1',
    '{,,:1}',
    '\u0000\u00ff',
    '{"a":1}}}{"a":2.5',
  ]) {
    t.notThrows(() => scan(text), text);
  }
  t.notThrows(() => jsonTextProblems(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x2e, 0x35])));
});

test('every number JSON.stringify writes for a safe integer passes; one float anywhere is found at its path', (t) => {
  // A small deterministic generator of nested values (a linear congruential sequence).
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const value = (depth: number): unknown => {
    const kind = next() % (depth > 3 ? 3 : 5);
    if (kind === 0) return (next() % 2 ? -1 : 1) * (next() % 1_000_000);
    if (kind === 1) return `s${next() % 100}.5e"\\${next() % 10}`;
    if (kind === 2) return next() % 2 === 0 ? null : true;
    if (kind === 3) return Array.from({ length: next() % 4 }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: next() % 4 }, (_, i) => [`k${i}.e`, value(depth + 1)]));
  };
  for (let round = 0; round < 200; round++) {
    const tree = { root: value(0) };
    t.deepEqual(scan(JSON.stringify(tree)), []);
    t.deepEqual(scan(JSON.stringify({ ...tree, zz: [0, { x: 0.5 }] })), [notInteger('zz.1.x')]);
  }
});

test('a name: well-formed, no control or format characters, trimmed, not empty, counted in code points', (t) => {
  const name = textSchema(200);
  t.is(name.parse('  Ada Lovelace '), 'Ada Lovelace');
  t.is(name.parse('Zoë Ünal-Çelik'), 'Zoë Ünal-Çelik');
  t.is(name.parse('a\u00a0b'), 'a\u00a0b', 'a no-break space inside is text');
  t.is(name.parse('😀'.repeat(200)), '😀'.repeat(200), '200 code points, 400 UTF-16 units');
  t.is(name.parse('x'.repeat(200)), 'x'.repeat(200));
  const refused = {
    empty: '',
    spaces: '   ',
    ideographicSpace: '\u3000',
    nul: 'a\u0000b',
    bel: 'a\u0007',
    del: 'a\u007f',
    ansi: '\u001b[31mred',
    nel: 'a\u0085b',
    csi: 'a\u009b31m',
    newline: 'a\nb',
    trailingNewline: 'Ada\n',
    carriageReturn: 'a\rb',
    tab: 'a\tb',
    lineSeparator: 'a\u2028b',
    paragraphSeparator: 'a\u2029b',
    rtlOverride: 'abc\u202etxt.exe',
    isolate: 'a\u2066b\u2069',
    zeroWidthOnly: '\u200b\u200c\u200d',
    zeroWidthInside: 'ad\u200bmin',
    bom: '\ufeffa',
    softHyphen: 'ad\u00admin',
    loneHighSurrogate: '\ud800',
    loneLowSurrogate: 'a\udc00b',
    reversedPair: '\ude00\ud83d',
    tooLong: 'x'.repeat(201),
    tooManyEmoji: '😀'.repeat(201),
    notAString: 42,
  };
  for (const [label, value] of Object.entries(refused)) t.false(name.safeParse(value).success, label);
  t.deepEqual(
    name.safeParse('\ud800').error?.issues.map((issue) => issue.message),
    ['must be well-formed Unicode (no lone surrogates)'],
  );
  t.deepEqual(
    name.safeParse(' \u0000 ').error?.issues.map((issue) => issue.message),
    ['must not contain control, format or line-break characters'],
  );
});

test('ids come out in lower case, from a body and from a path', (t) => {
  const upper = '8F14E45F-CEEA-467F-A8F0-2E5C2E8F1A00';
  t.is(idSchema.parse(upper), upper.toLowerCase());
  t.is(parseId(upper), upper.toLowerCase());
  t.is(parseId(upper.toLowerCase()), upper.toLowerCase());
  const error = t.throws(() => parseId('not-a-uuid'), { instanceOf: AppError });
  t.is(error?.code, 'INVALID_ID');
  t.is(error?.status, 400);
});

test('parseBody lists what the text hid with what the schema refused, and answers 415 without a body', (t) => {
  const schema = z.strictObject({ points: z.number().int().min(0), name: z.string() });
  t.deepEqual(parseBody(schema, { body: { points: 1, name: 'a' }, jsonTextProblems: [] }), { points: 1, name: 'a' });
  t.deepEqual(parseBody(schema, { body: { points: 1, name: 'a' } }), { points: 1, name: 'a' });

  // `{"points": 1e-400, "name": "a"}` parses as valid: only the text says otherwise.
  const hidden = t.throws(() => parseBody(schema, { body: { points: 0, name: 'a' }, jsonTextProblems: [notInteger('points')] }), {
    instanceOf: AppError,
  });
  t.is(hidden?.code, 'VALIDATION_FAILED');
  t.is(hidden?.status, 400);
  t.deepEqual(hidden?.details, [notInteger('points')]);

  const both = t.throws(() => parseBody(schema, { body: { points: 0 }, jsonTextProblems: [notInteger('points')] }), {
    instanceOf: AppError,
  });
  t.deepEqual(
    (both?.details as InputProblem[]).map((problem) => problem.path),
    ['points', 'name'],
  );

  const missing = t.throws(() => parseBody(schema, { body: undefined }), { instanceOf: AppError });
  t.is(missing?.status, 415);
  t.is(missing?.code, 'UNSUPPORTED_MEDIA_TYPE');
});

test('checkJsonText keeps the problems, and refuses bodies that are not UTF-8', (t) => {
  const req = {} as import('node:http').IncomingMessage & { jsonTextProblems?: InputProblem[] };
  checkJsonText(req, undefined, Buffer.from('{"stock":1e-400}'), 'utf-8');
  t.deepEqual(req.jsonTextProblems, [notInteger('stock')]);

  const wrongCharset = t.throws(() => checkJsonText({} as never, undefined, Buffer.from('{}', 'utf16le'), 'utf-16le'), {
    instanceOf: AppError,
  });
  t.is(wrongCharset?.status, 415);
  t.is(wrongCharset?.code, 'UNSUPPORTED_ENCODING');

  // A stray byte, and a surrogate written in UTF-8 (CESU): both would be read as U+FFFD.
  for (const bytes of [
    [0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d],
    [0x22, 0xed, 0xa0, 0x80, 0x22],
  ]) {
    const invalid = t.throws(() => checkJsonText({} as never, undefined, Buffer.from(bytes), 'utf-8'), { instanceOf: AppError });
    t.is(invalid?.status, 400);
    t.is(invalid?.code, 'MALFORMED_JSON');
  }
});

test('through express.json, an error of checkJsonText reaches the error handler as the AppError it is', async (t) => {
  const app = express();
  app.use(express.json({ strict: false, verify: checkJsonText }));
  app.post('/', (req, res) => {
    res.json({ problems: req.jsonTextProblems ?? null, body: req.body as unknown });
  });
  app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const appError = error instanceof AppError ? error : undefined;
    res.status(appError?.status ?? 500).json({ code: appError?.code ?? 'OTHER', type: (error as { type?: string }).type });
  });
  const server = app.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const post = async (body: Uint8Array | string, contentType = 'application/json') => {
    const answer = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  };

  t.deepEqual(await post('{"points":1e-400}'), { status: 200, body: { problems: [notInteger('points')], body: { points: 0 } } });
  t.deepEqual(await post('{"points":5}'), { status: 200, body: { problems: [], body: { points: 5 } } });
  t.like(await post(new Uint8Array([0x22, 0xff, 0x22])), { status: 400, body: { code: 'MALFORMED_JSON' } });
  t.like(await post(Buffer.from('{}', 'utf16le'), 'application/json; charset=utf-16le'), {
    status: 415,
    body: { code: 'UNSUPPORTED_ENCODING' },
  });
  // Not JSON: JSON.parse's refusal, whatever the text's numbers (the problems are not reported).
  t.like(await post('{"points":1.5'), { status: 500, body: { type: 'entity.parse.failed' } });
});
