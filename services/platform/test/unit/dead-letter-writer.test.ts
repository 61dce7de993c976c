import test from 'ava';
import type { KafkaMessage } from 'kafkajs';
import { AppError } from '../../src/errors.js';
import { deadLetterMessage, deadLetterTopic } from '../../src/consumer/dead-letter-writer.js';
import { DeadLetterHeaders, headerText } from '../../src/consumer/headers.js';

const message: KafkaMessage = {
  key: Buffer.from('order-1'),
  value: Buffer.from([0, 0, 0, 0, 7, 1]),
  timestamp: '1748775600000',
  attributes: 0,
  offset: '41',
  headers: { eventId: Buffer.from('event-1'), eventType: Buffer.from('OrderCreated') },
};

test('a header reads as text: the first value of a repeated one, null when absent', (t) => {
  t.is(headerText({ a: Buffer.from('x') }, 'a'), 'x');
  t.is(headerText({ a: 'y' }, 'a'), 'y');
  t.is(headerText({ a: [Buffer.from('first'), Buffer.from('second')] }, 'a'), 'first');
  t.is(headerText({ a: undefined }, 'a'), null);
  t.is(headerText({}, 'a'), null);
  t.is(headerText(undefined, 'a'), null);
});

test('a dead letter keeps the key, value and headers, and says why, where from and who failed it', (t) => {
  const failedAt = new Date('2025-06-01T11:00:00.000Z');
  const error = new AppError('PROBE_REJECTED', 'x'.repeat(1500));
  const record = deadLetterMessage(message, { topic: 'order.events', partition: 2, groupId: 'product-service' }, error, failedAt);
  t.is(deadLetterTopic('order.events'), 'order.events.dlq');
  t.is(record.key, message.key);
  t.is(record.value, message.value);
  const headers = record.headers!;
  t.is(headerText(headers, 'eventId'), 'event-1');
  t.is(headerText(headers, DeadLetterHeaders.errorCode), 'PROBE_REJECTED');
  t.is(headerText(headers, DeadLetterHeaders.errorClass), 'permanent');
  t.is(headerText(headers, DeadLetterHeaders.errorMessage), 'x'.repeat(1000), 'the message is cut at 1000 characters');
  t.is(headerText(headers, DeadLetterHeaders.originalTopic), 'order.events');
  t.is(headerText(headers, DeadLetterHeaders.originalPartition), '2');
  t.is(headerText(headers, DeadLetterHeaders.originalOffset), '41');
  t.is(headerText(headers, DeadLetterHeaders.consumerGroup), 'product-service');
  t.is(headerText(headers, DeadLetterHeaders.failedAt), '2025-06-01T11:00:00.000Z');
  t.deepEqual(Object.keys(headers).slice(0, 2), ['eventId', 'eventType'], 'the original headers come first');
});
