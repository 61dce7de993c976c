import test from 'ava';
import { streamingServers } from '../../src/connectors.js';

// What the JMX exporter agent in Connect serves (monitoring/jmx-exporter/connect.yml: default names, lower-cased).
const metrics = `# HELP debezium_mariadb_connector_metrics_connected Connected (debezium.mariadb<type=connector-metrics, context=streaming, server=order-db><>Connected)
# TYPE debezium_mariadb_connector_metrics_connected untyped
debezium_mariadb_connector_metrics_connected{context="streaming",server="order-db",} 1.0
debezium_mariadb_connector_metrics_connected{context="streaming",server="product-db",} 0.0
debezium_mariadb_connector_metrics_snapshotcompleted{context="snapshot",server="user-db",} 1.0
debezium_mysql_connector_metrics_connected{server="user-db",context="streaming",task="0"} 1
debezium_mariadb_connector_metrics_connected{context="snapshot",server="audit-db",} 1.0
kafka_connect_connect_worker_metrics_connector_count 3.0
`;

test('only connectors whose streaming binlog client is connected count as streaming', (t) => {
  t.deepEqual([...streamingServers(metrics)].sort(), ['order-db', 'user-db']);
});

test('no metrics, no connector streaming', (t) => {
  t.is(streamingServers('').size, 0);
});

test("Connect's user and password come from the environment, the password from its file when given so", async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { connectApiFromEnv, connectAuthorization } = await import('../../src/connectors.js');
  const dir = mkdtempSync(join(tmpdir(), 'connect-api-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'connect-rest'), 'from-the-file-0123456789\n');
  const api = connectApiFromEnv({
    KAFKA_CONNECT_URL: 'http://127.0.0.1:18083/',
    KAFKA_CONNECT_USERNAME: 'connect',
    KAFKA_CONNECT_PASSWORD_FILE: join(dir, 'connect-rest'),
  });
  t.deepEqual(api, { url: 'http://127.0.0.1:18083', username: 'connect', password: 'from-the-file-0123456789' });
  t.is(connectAuthorization(api), `Basic ${Buffer.from('connect:from-the-file-0123456789').toString('base64')}`);
});
