import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, loadEventSchemas, topicFor } from '../../src/index.js';
import { schemaDir } from '../helpers/paths.js';

test('each .avsc file is one event type, published on <aggregateType>.events under a TopicRecordName subject', (t) => {
  const [probe] = loadEventSchemas(schemaDir, 'probe');
  t.is(probe?.type, 'ProbeRecorded');
  t.is(probe?.topic, 'probe.events');
  t.is(probe?.subject, 'probe.events-cdcsaga.platform.test.ProbeRecorded');
  t.is(topicFor('order'), 'order.events');
});

test('a schema that is not a namespaced record is refused with a clear error', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'schemas-'));
  writeFileSync(join(dir, 'bad.avsc'), JSON.stringify({ type: 'record', name: 'NoNamespace', fields: [] }));
  const error = t.throws(() => loadEventSchemas(dir, 'x'), { instanceOf: AppError });
  t.is(error?.code, 'INVALID_SCHEMA');
  t.regex(error?.message ?? '', /bad\.avsc/);
});

test('a folder without schemas is an error, not an empty catalogue', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'schemas-'));
  t.is(t.throws(() => loadEventSchemas(dir, 'x'), { instanceOf: AppError })?.code, 'NO_SCHEMAS');
});
