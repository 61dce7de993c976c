import type { IHeaders } from 'kafkajs';

/**
 * The headers of a dead-letter topic (`<topic>.dlq`), the one list of their names: the consumer writes the
 * first group on every message it dead-letters (dead-letter-writer.ts); the DLQ tool (`npm run dlq`,
 * services/saga-checks/src/dlq.ts) writes the re-drive group on the copies it produces again and on the
 * markers it appends to the DLQ topic; the lag monitor's count of waiting dead letters (dead-letters.ts)
 * reads both.
 */
export const DeadLetterHeaders = {
  errorCode: 'dlq.error.code',
  /** Why it came to the DLQ and not back for another try: always `permanent`. */
  errorClass: 'dlq.error.class',
  errorMessage: 'dlq.error.message',
  originalTopic: 'dlq.original.topic',
  originalPartition: 'dlq.original.partition',
  originalOffset: 'dlq.original.offset',
  consumerGroup: 'dlq.consumer.group',
  failedAt: 'dlq.failed.at',
  /** On a re-driven message (and so on its DLQ record if it fails again): the DLQ record it came from. */
  redrivenFrom: 'dlq.redriven.from',
  redrivenAt: 'dlq.redriven.at',
  /** How many times this event has been re-driven, this time included. */
  redriveCount: 'dlq.redrive.count',
  /** On a marker: `<partition>:<offset>` of the DLQ record (same topic) that was re-driven. */
  redriveOf: 'dlq.redrive.of',
  /** On a marker: `<topic>:<partition>:<offset>` the re-driven copy was written to. */
  redriveTo: 'dlq.redrive.to',
  redriveAt: 'dlq.redrive.at',
} as const;

/** A header of a Kafka record as text (the first value of a repeated one), or null when it is absent. */
export function headerText(headers: IHeaders | undefined, name: string): string | null {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === null ? null : first.toString();
}
