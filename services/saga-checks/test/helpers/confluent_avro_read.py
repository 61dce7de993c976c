"""Reads the saga topics with Confluent's own Python client and its Avro deserializer.

Given only the bootstrap servers, the registry URL and where each partition ends, it decodes every value with
confluent_kafka.avro's MessageSerializer (the schema fetched by id from the registry, as Confluent's
KafkaAvroDeserializer does) and prints one JSON line per message. Keys are plain strings, as Debezium writes them.

usage: confluent_avro_read.py BOOTSTRAP REGISTRY_URL '{"topic": {"partition": end_offset}}'
"""
import datetime
import json
import struct
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.avro.cached_schema_registry_client import CachedSchemaRegistryClient
from confluent_kafka.avro.serializer.message_serializer import MessageSerializer

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(value):
    """Avro's logical timestamp-millis comes back as a datetime; compare it as milliseconds since the epoch."""
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def main():
    bootstrap, registry_url, ends_json = sys.argv[1:4]
    ends = {(topic, int(p)): end for topic, parts in json.loads(ends_json).items() for p, end in parts.items() if end > 0}
    registry = CachedSchemaRegistryClient({"url": registry_url})
    serializer = MessageSerializer(registry)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "confluent-python-check", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for topic, p in ends])
    open_partitions = set(ends)
    deadline = time.monotonic() + 120
    while open_partitions and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            raise RuntimeError(str(message.error()))
        where = (message.topic(), message.partition())
        if where not in open_partitions:
            continue
        value = message.value()
        _, schema_id = struct.unpack(">bI", value[:5])
        record = serializer.decode_message(value, is_key=False)
        headers = {k: v.decode() for k, v in (message.headers() or [])}
        print(json.dumps({
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "key": message.key().decode() if message.key() is not None else None,
            "eventType": headers.get("eventType"),
            "schemaId": schema_id,
            "schema": registry.get_by_id(schema_id).fullname,
            "value": plain(record),
        }))
        if message.offset() + 1 >= ends[where]:
            open_partitions.discard(where)
    consumer.close()
    if open_partitions:
        raise SystemExit(f"partitions not read to their end in 120 s: {sorted(open_partitions)}")


if __name__ == "__main__":
    main()
