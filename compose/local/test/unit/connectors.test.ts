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
