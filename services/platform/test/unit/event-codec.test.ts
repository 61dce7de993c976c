import test from 'ava';
import { AppError, EventCodec, createSchemaRegistry } from '../../src/index.js';

// Nothing here reaches a registry: values that are not in the wire format are refused before any lookup.
const codec = new EventCodec(createSchemaRegistry('http://127.0.0.1:9/unreachable'));

test('a value that is not in the Confluent wire format is a permanent NOT_CONFLUENT_AVRO failure', async (t) => {
  for (const value of [null, Buffer.alloc(0), Buffer.from([0, 0, 0]), Buffer.from('{"json":true}')]) {
    const error = await t.throwsAsync(codec.decode(value), { instanceOf: AppError });
    t.is(error?.code, 'NOT_CONFLUENT_AVRO');
    t.false(error?.retriable);
  }
});

test('encoding an event type that was never registered fails with UNREGISTERED_EVENT_TYPE', async (t) => {
  const error = await t.throwsAsync(codec.encode('NeverRegistered', {}), { instanceOf: AppError });
  t.is(error?.code, 'UNREGISTERED_EVENT_TYPE');
});
