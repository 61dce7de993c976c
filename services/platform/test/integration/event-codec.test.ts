import test from 'ava';
import { AppError, EventCodec, createSchemaRegistry, type EventSchema } from '../../src/index.js';
import { stack, uniqueName } from '../helpers/stack.js';

const topic = `${uniqueName('probe-codec')}.events`;

function version(fields: object[]): EventSchema {
  const schema = { type: 'record', name: 'ProbeEvolved', namespace: 'cdcsaga.platform.test', fields };
  return {
    type: 'ProbeEvolved',
    aggregateType: topic.replace(/\.events$/, ''),
    topic,
    subject: `${topic}-cdcsaga.platform.test.ProbeEvolved`,
    schema: JSON.stringify(schema),
  };
}

const v1 = version([{ name: 'probeId', type: 'string' }]);

test.serial('registering an unchanged schema again returns the same id', async (t) => {
  const first = new EventCodec(createSchemaRegistry(stack.registryUrl));
  await first.register([v1]);
  const second = new EventCodec(createSchemaRegistry(stack.registryUrl));
  await second.register([v1]);
  t.is(second.schemaId('ProbeEvolved'), first.schemaId('ProbeEvolved'));
});

test.serial('the registry refuses a change that breaks BACKWARD compatibility', async (t) => {
  const codec = new EventCodec(createSchemaRegistry(stack.registryUrl));
  await codec.register([v1]);
  const incompatible = version([
    { name: 'probeId', type: 'string' },
    { name: 'mandatory', type: 'string' }, // no default: v2 readers cannot read v1 data
  ]);
  const error = await t.throwsAsync(codec.register([incompatible]), { instanceOf: AppError });
  t.is(error?.code, 'SCHEMA_REGISTRATION_FAILED');
  t.false(error?.retriable);

  const compatible = version([
    { name: 'probeId', type: 'string' },
    { name: 'optional', type: 'string', default: '' },
  ]);
  const before = codec.schemaId('ProbeEvolved');
  await codec.register([compatible]);
  t.not(codec.schemaId('ProbeEvolved'), before, 'a compatible change is a new version with a new id');
});

test('a payload that does not match its schema is refused before anything is written', async (t) => {
  const codec = new EventCodec(createSchemaRegistry(stack.registryUrl));
  await codec.register([v1]);
  const error = await t.throwsAsync(codec.encode('ProbeEvolved', { probeId: 42 }), { instanceOf: AppError });
  t.is(error?.code, 'INVALID_EVENT');
});
