import test from 'ava';
import { clusterId } from '../../src/components/kafka.js';

// kafka-storage parses `--cluster-id -abc…` as an unknown option; one fresh CI run in 64 used to fail on it.
test('a generated cluster id is 16 bytes in base64url and never starts with a dash', (t) => {
  for (let i = 0; i < 20_000; i += 1) {
    const id = clusterId();
    t.regex(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    t.is(Buffer.from(id, 'base64url').length, 16);
  }
});
