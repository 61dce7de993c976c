import { Partitioners, type Kafka, type KafkaMessage, type Message, type Producer } from 'kafkajs';
import { describeError } from '../errors.js';
import { DeadLetterHeaders } from './headers.js';

/** The dead-letter topic of `topic`. */
export const deadLetterTopic = (topic: string): string => `${topic}.dlq`;

/** Where a dead-lettered message was read, and by whom. */
export interface DeadLetterOrigin {
  topic: string;
  partition: number;
  groupId: string;
}

/**
 * The DLQ record of a message that can never be applied: its key, value and headers as they came, plus
 * the `dlq.*` headers saying why (the error's code and first 1000 characters), where from and who failed it.
 */
export function deadLetterMessage(message: KafkaMessage, origin: DeadLetterOrigin, error: unknown, failedAt: Date): Message {
  const { code, message: reason } = describeError(error);
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...message.headers,
      [DeadLetterHeaders.errorCode]: code,
      // Why it came here and not back for another try: only a permanent failure is dead-lettered.
      [DeadLetterHeaders.errorClass]: 'permanent',
      [DeadLetterHeaders.errorMessage]: reason.slice(0, 1000),
      [DeadLetterHeaders.originalTopic]: origin.topic,
      [DeadLetterHeaders.originalPartition]: String(origin.partition),
      [DeadLetterHeaders.originalOffset]: message.offset,
      [DeadLetterHeaders.consumerGroup]: origin.groupId,
      [DeadLetterHeaders.failedAt]: failedAt.toISOString(),
    },
  };
}

/** Produces a consumer group's dead letters to `<topic>.dlq`, each acknowledged by all in-sync replicas. */
export class DeadLetterWriter {
  private readonly producer: Producer;

  constructor(
    kafka: Kafka,
    private readonly groupId: string,
  ) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Murmur2, as Java clients: a DLQ record lands on the partition its key would get from Connect.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }

  /** Sends `message`, read from `topic`/`partition`, to the DLQ with `error` as the reason. */
  async send(topic: string, partition: number, message: KafkaMessage, error: unknown): Promise<void> {
    const record = deadLetterMessage(message, { topic, partition, groupId: this.groupId }, error, new Date());
    await this.producer.send({ topic: deadLetterTopic(topic), acks: -1, messages: [record] });
  }
}
