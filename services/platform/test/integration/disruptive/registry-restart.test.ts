import test from 'ava';
import { randomUUID } from 'node:crypto';
import { restart } from '@cdc-outbox-saga/local-stack';
import { EventCodec, createSchemaRegistry, loadEventSchemas } from '../../../src/index.js';
import { collectFirst, kafkaClient, probeWriter, schemaDir, serviceDatabase, stack, uniqueName } from '../../helpers/stack.js';

// Runs alone, after the other integration files: it takes the registry away for a while.
test('after the registry restarts, messages already in Kafka still decode and ids stay the same', async (t) => {
  const aggregateType = uniqueName('probe-restart');
  const db = await serviceDatabase('order');
  t.teardown(() => db.destroy());
  const { writer, codec } = await probeWriter(aggregateType);
  const key = randomUUID();
  const payload = { probeId: key, sequence: 7, note: 'written before the restart' };
  await db.transaction((trx) => writer.write(trx, { type: 'ProbeRecorded', aggregateId: key, payload }));
  const { message } = await collectFirst(kafkaClient(aggregateType), `${aggregateType}.events`, (m) => m.key?.toString() === key);
  const value = message.value;

  await restart('registry');

  // A new client: nothing cached, everything comes from the restarted registry's storage.
  const fresh = new EventCodec(createSchemaRegistry(stack.registryUrl));
  t.deepEqual({ ...((await fresh.decode(value)).payload as object) }, payload);
  await fresh.register(loadEventSchemas(schemaDir, aggregateType));
  t.is(fresh.schemaId('ProbeRecorded'), codec.schemaId('ProbeRecorded'));
});
