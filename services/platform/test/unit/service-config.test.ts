import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseServiceSettings } from '../../src/index.js';

const valid = {
  service: { name: 'order', instanceId: 'order-1' },
  http: { host: '127.0.0.1', port: 3001 },
  db: {
    host: '127.0.0.1',
    port: 3307,
    user: 'order_svc',
    password: 'x',
    database: 'order_db',
    poolMax: 10,
    lockWaitTimeoutSeconds: 3,
    migration: { user: 'order_migrate', password: 'y' },
  },
  kafka: {
    brokers: '127.0.0.1:9092, 127.0.0.2:9092',
    groupId: 'order-service',
    partitionsConsumedConcurrently: 3,
    maxBatchEvents: 100,
    fetch: { minBytes: 1, maxWaitMs: 1000 },
    commitIntervalMs: 1000,
    sessionTimeoutMs: 10000,
    dedupeRetentionHours: 192,
    retry: { minMs: 100, maxMs: 10_000 },
    clientRetry: { initialMs: 100, maxMs: 1000 },
  },
  registry: { url: 'http://127.0.0.1:8081/apis/ccompat/v7' },
  outbox: { deleteAfterInsert: true, maxEventBytes: 921_600 },
  eureka: {
    serviceUrl: 'http://127.0.0.1:8761/eureka/, http://127.0.0.2:8761/eureka',
    renewalIntervalSeconds: 5,
    leaseDurationSeconds: 15,
  },
  auth: { publicKeyFile: '/keys/jwt-public-key.json', issuer: 'cdc-outbox-saga-local', audience: 'cdc-outbox-saga' },
  health: { intervalMs: 2000, consumerRestartGraceMs: 30_000 },
  clock: { intervalMs: 60_000, warnSeconds: 2, downSeconds: 8, maxRoundTripMs: 500 },
  shutdown: { drainMs: 3500 },
  log: { level: 'info' },
  config: { refreshMs: 2000 },
};

test('a complete configuration is read into typed settings; brokers may be a comma-separated string', (t) => {
  const settings = baseServiceSettings.parse(valid);
  t.deepEqual(settings.kafka.brokers, ['127.0.0.1:9092', '127.0.0.2:9092']);
  t.is(settings.http.port, 3001);
  t.deepEqual(settings.eureka.serviceUrl, ['http://127.0.0.1:8761/eureka', 'http://127.0.0.2:8761/eureka']);
});

test('an empty Eureka URL turns registration off; a malformed one is refused', (t) => {
  t.deepEqual(baseServiceSettings.parse({ ...valid, eureka: { ...valid.eureka, serviceUrl: '' } }).eureka.serviceUrl, []);
  t.deepEqual(baseServiceSettings.parse({ ...valid, eureka: { ...valid.eureka, serviceUrl: 'off' } }).eureka.serviceUrl, []);
  const result = baseServiceSettings.safeParse({ ...valid, eureka: { ...valid.eureka, serviceUrl: 'not a url' } });
  t.false(result.success);
  t.is(result.error!.issues[0]!.path.join('.'), 'eureka.serviceUrl');
});

test('a missing key fails the start and is named', (t) => {
  const { registry: _registry, ...withoutRegistry } = valid;
  const result = baseServiceSettings.safeParse(withoutRegistry);
  t.false(result.success);
  t.true(result.error!.issues.some((issue) => issue.path.join('.') === 'registry'));
});

test("a dedupe retention that does not outlive the topics' 7-day retention is refused", (t) => {
  const result = baseServiceSettings.safeParse({ ...valid, kafka: { ...valid.kafka, dedupeRetentionHours: 168 } });
  t.false(result.success);
  t.regex(result.error!.issues[0]!.message, /168 h retention/);
});

test('a retry backoff whose minimum exceeds its maximum, or an unknown log level, is refused and named', (t) => {
  const retry = baseServiceSettings.safeParse({ ...valid, kafka: { ...valid.kafka, retry: { minMs: 500, maxMs: 100 } } });
  t.false(retry.success);
  t.is(retry.error!.issues[0]!.path.join('.'), 'kafka.retry');
  const level = baseServiceSettings.safeParse({ ...valid, log: { level: 'loud' } });
  t.false(level.success);
  t.is(level.error!.issues[0]!.path.join('.'), 'log.level');
});

test('a database password is read from the file DB_PASSWORD_FILE names, for the runtime and the migration login alike', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'service-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'runtime'), 'runtime-secret\n');
  writeFileSync(join(dir, 'migrate'), 'migrate-secret\r\n');
  const settings = baseServiceSettings.parse({
    ...valid,
    db: {
      ...valid.db,
      password: undefined,
      passwordFile: join(dir, 'runtime'),
      migration: { user: 'order_migrate', passwordFile: join(dir, 'migrate') },
    },
  });
  t.is(settings.db.password, 'runtime-secret');
  t.deepEqual(settings.db.migration, { user: 'order_migrate', password: 'migrate-secret' });
  t.false('passwordFile' in settings.db);
});

test('a database password missing, given twice, or in a file that cannot be read fails the start, named', (t) => {
  const problems = (db: Record<string, unknown>) => {
    const result = baseServiceSettings.safeParse({ ...valid, db: { ...valid.db, ...db } });
    t.false(result.success);
    return result.error!.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };
  t.deepEqual(problems({ password: undefined }), ['db: password: missing (give it, or the path of a file that holds it)']);
  t.deepEqual(problems({ passwordFile: '/nonexistent/secret' }), [
    'db: passwordFile: give either the secret or the file that holds it, not both',
  ]);
  t.deepEqual(problems({ password: undefined, passwordFile: '/nonexistent/secret' }), [
    'db: passwordFile: cannot read /nonexistent/secret (ENOENT)',
  ]);
  t.deepEqual(problems({ migration: { user: 'order_migrate' } }), [
    'db.migration: password: missing (give it, or the path of a file that holds it)',
  ]);
});

test("the auth settings need the public key file, issuer and audience; the tolerance defaults to 30 s, the lifetime cap to the verifier's 24 h", (t) => {
  const settings = baseServiceSettings.parse(valid);
  t.like(settings.auth, { clockToleranceSeconds: 30, maxLifetimeSeconds: undefined });
  const { publicKeyFile: _file, ...withoutKey } = valid.auth;
  const result = baseServiceSettings.safeParse({ ...valid, auth: withoutKey });
  t.false(result.success);
  t.is(result.error!.issues[0]!.path.join('.'), 'auth.publicKeyFile');
});
