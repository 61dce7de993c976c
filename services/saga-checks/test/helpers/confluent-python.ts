import { settings } from '@cdc-outbox-saga/local-stack';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Confluent's own Python client (confluent-kafka 1.7 with its Avro serializer) and what it imports, from
 * Debian's archive. Confluent's Java KafkaAvroDeserializer is not on Maven Central and PyPI is out of reach
 * here; Debian packages the Python one. They are unpacked into the stack's state folder, nothing is installed.
 */
const packages = [
  'python3-confluent-kafka',
  'librdkafka1',
  'python3-avro',
  'python3-requests',
  'python3-urllib3',
  'python3-idna',
  'python3-certifi',
  'python3-chardet',
  'python3-charset-normalizer',
];

/** Debian's own interpreter: the packages' C extension is built for it. */
const python = '/usr/bin/python3';
const home = join(settings.stateDir, 'tools', 'confluent-kafka-python');
const root = join(home, 'root');
const script = fileURLToPath(new URL('../../../test/helpers/confluent_avro_read.py', import.meta.url));

async function download(debs: string): Promise<void> {
  try {
    await run('apt-get', ['download', ...packages], { cwd: debs });
  } catch (error) {
    // A machine whose package lists were never fetched knows no candidates yet.
    if (process.getuid?.() !== 0) throw error;
    await run('apt-get', ['update', '-qq']);
    await run('apt-get', ['download', ...packages], { cwd: debs });
  }
}

async function ensureUnpacked(): Promise<void> {
  const marker = join(home, `.complete-${packages.join(',')}`);
  if (existsSync(marker)) return;
  rmSync(home, { recursive: true, force: true });
  const debs = join(home, 'debs');
  mkdirSync(debs, { recursive: true });
  await download(debs);
  for (const deb of readdirSync(debs).filter((name) => name.endsWith('.deb'))) {
    await run('dpkg-deb', ['-x', join(debs, deb), root]);
  }
  writeFileSync(marker, '');
}

/** One message as Confluent's deserializer read it. */
export interface ConfluentDecoded {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  eventType: string | null;
  schemaId: number;
  /** The full name of the writer schema the registry returned for schemaId. */
  schema: string;
  value: Record<string, unknown>;
}

/** Reads every partition in `ends` from its beginning up to its end offset with Confluent's Avro deserializer. */
export async function readWithConfluentPython(
  bootstrap: string,
  registryUrl: string,
  ends: Record<string, Record<number, number>>,
): Promise<ConfluentDecoded[]> {
  await ensureUnpacked();
  const { stdout } = await run(python, [script, bootstrap, registryUrl, JSON.stringify(ends)], {
    env: {
      ...process.env,
      PYTHONPATH: join(root, 'usr/lib/python3/dist-packages'),
      LD_LIBRARY_PATH: join(root, 'usr/lib', `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`),
    },
    maxBuffer: 256 * 1024 * 1024,
    timeout: 180_000,
  });
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ConfluentDecoded);
}
