import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { AppError, isRetriable } from '../errors.js';
import type { EventSchema } from './event-schemas.js';

/** A client of a Confluent-compatible registry (Apicurio's `/apis/ccompat/v7` or Confluent's). */
export function createSchemaRegistry(url: string): SchemaRegistry {
  return new SchemaRegistry({ host: url, clientId: 'cdc-outbox-saga', retry: { retries: 2 } });
}

const MAGIC_BYTE = 0;

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary), through
 * the registry. Encoding is only possible for registered event types; decoding works for any schema id
 * the registry knows, so a consumer needs nothing but the registry URL.
 */
export class EventCodec {
  private readonly ids = new Map<string, number>();

  constructor(private readonly registry: SchemaRegistry) {}

  /**
   * Registers each schema under its subject with BACKWARD compatibility (a new version must read data
   * written with the previous one). Registering an unchanged schema again returns the same id.
   */
  async register(schemas: EventSchema[]): Promise<void> {
    for (const event of schemas) {
      try {
        const { id } = await this.registry.register(
          { type: SchemaType.AVRO, schema: event.schema },
          { subject: event.subject, compatibility: COMPATIBILITY.BACKWARD },
        );
        this.ids.set(event.type, id);
      } catch (cause) {
        throw new AppError('SCHEMA_REGISTRATION_FAILED', `registering ${event.subject} failed: ${(cause as Error).message}`, {
          cause,
          retriable: isRetriable(cause),
        });
      }
    }
  }

  /** The registry's id of a registered event type's schema. */
  schemaId(type: string): number {
    const id = this.ids.get(type);
    if (id === undefined) {
      throw new AppError('UNREGISTERED_EVENT_TYPE', `event type ${type} has no registered schema`);
    }
    return id;
  }

  async encode(type: string, payload: unknown): Promise<Buffer> {
    const id = this.schemaId(type);
    try {
      return await this.registry.encode(id, payload);
    } catch (cause) {
      throw new AppError('INVALID_EVENT', `${type} does not match its schema: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * Decodes a Confluent-framed Avro value. A value that is not in the wire format, or does not decode with
   * the schema its id names, is a permanent failure. Anything the registry answers instead of a schema is
   * retriable: unreachable, 5xx, and also 404, which a registry gives for every id while it replays its
   * journal after a restart.
   */
  async decode(value: Buffer | null): Promise<{ schemaId: number; payload: unknown }> {
    if (value === null || value.length < 5 || value.readUInt8(0) !== MAGIC_BYTE) {
      throw new AppError('NOT_CONFLUENT_AVRO', 'the value is not in the Confluent wire format (magic byte 0 + schema id)');
    }
    const schemaId = value.readInt32BE(1);
    try {
      return { schemaId, payload: await this.registry.decode(value) };
    } catch (cause) {
      const status = (cause as { status?: number }).status;
      if (status !== undefined || isNetworkish(cause)) {
        throw new AppError('REGISTRY_UNAVAILABLE', `schema registry unavailable: ${(cause as Error).message}`, {
          cause,
          retriable: true,
        });
      }
      throw new AppError('UNDECODABLE_VALUE', `schema id ${schemaId}: ${(cause as Error).message}`, { cause });
    }
  }
}

/** mappersmith reports a refused connection as a plain Error whose message names the socket error. */
function isNetworkish(error: unknown): boolean {
  const message = String((error as Error)?.message ?? '');
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up|timeout/i.test(message);
}
